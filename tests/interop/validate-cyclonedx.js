// validate-cyclonedx.js FILE...: checks each file with the CycloneDX
// project's own JSON validator for spec 1.5 (@cyclonedx/cyclonedx-library,
// which compiles the official bom-1.5 schema with ajv, its format checks and
// the SPDX licence list), and parses every purl with packageurl-js: it must
// parse, and the string packageurl-js writes back must name the same package
// (packageurl-js 2 still writes '+' unencoded, which the purl spec now
// encodes as %2B, so the strings themselves may differ). Prints "FILE: valid" or each problem; exits 1
// when any file is invalid. Used by tests/system/test_sbom.py.
'use strict';
const fs = require('fs');
const { Spec, Validation } = require('@cyclonedx/cyclonedx-library');
const { PackageURL } = require('packageurl-js');

function purls(doc) {
  const out = [];
  const visit = (c) => {
    if (c && c.purl) out.push(c.purl);
    for (const s of (c && c.components) || []) visit(s);
  };
  visit(doc.metadata && doc.metadata.component);
  for (const c of doc.components || []) visit(c);
  return out;
}

async function main() {
  const validator = new Validation.JsonStrictValidator(Spec.Version.v1dot5);
  let bad = 0;
  for (const file of process.argv.slice(2)) {
    const text = fs.readFileSync(file, 'utf8');
    const doc = JSON.parse(text);
    const problems = [];
    if (doc.specVersion !== '1.5')
      problems.push(`specVersion is ${doc.specVersion}, expected 1.5`);
    const errors = await validator.validate(text);
    if (errors !== null)
      problems.push(`schema: ${JSON.stringify(errors)}`);
    for (const p of purls(doc)) {
      try {
        const a = PackageURL.fromString(p);
        const b = PackageURL.fromString(a.toString());
        const key = (u) => JSON.stringify([u.type, u.namespace, u.name, u.version,
          u.qualifiers, u.subpath]);
        if (key(a) !== key(b))
          problems.push(`purl ${p}: packageurl-js reads ${key(a)} but writes ${a.toString()}`);
      } catch (e) {
        problems.push(`purl ${p}: ${e.message}`);
      }
    }
    if (problems.length) {
      bad++;
      for (const m of problems) console.log(`${file}: ${m}`);
    } else {
      console.log(`${file}: valid`);
    }
  }
  return bad ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.error(e); process.exit(2); });
