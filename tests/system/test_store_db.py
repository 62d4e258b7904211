"""The store's database unit tests (tests/unit/test_store_db.c) against a
real PostgreSQL server; meson runs the same program over SQLite."""
import os
import subprocess

from conftest import BUILD
from storelib import postgres  # noqa: F401 (fixture)


def test_database_layer_on_postgresql(postgres):
    exe = os.path.join(BUILD, "tests", "unit", "test_store_db")
    url = postgres.url(postgres.new_database())
    env = dict(os.environ, FERRY_TEST_DB=url)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    p = subprocess.run([exe], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "[  PASSED  ] 7 test(s)." in p.stdout + p.stderr
