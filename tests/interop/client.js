// client.js: tuf-js as an independent TUF client, with the same command-line
// contract as ferry-tuf-client (the conformance suite's CLIENT-CLI.md):
//   node client.js --metadata-dir DIR init ROOT_FILE
//   node client.js --metadata-url URL --metadata-dir DIR refresh
//   node client.js --metadata-url URL --metadata-dir DIR --target-name NAME
//                  --target-dir DIR --target-base-url URL download
// Exit 0 on success, 1 on any failure (the message goes to standard error).
'use strict';
const fs = require('fs');
const path = require('path');
const { Updater } = require('tuf-js');

function parse(argv) {
  const o = { targets: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--metadata-dir') o.metadataDir = next();
    else if (a === '--metadata-url') o.metadataUrl = next();
    else if (a === '--target-name') o.targets.push(next());
    else if (a === '--target-dir') o.targetDir = next();
    else if (a === '--target-base-url') o.targetBaseUrl = next();
    else if (!o.cmd) o.cmd = a;
    else o.arg = a;
  }
  return o;
}

function withSlash(u) {
  return u.endsWith('/') ? u : u + '/';
}

async function main() {
  const o = parse(process.argv.slice(2));
  if (o.cmd === 'init') {
    fs.mkdirSync(o.metadataDir, { recursive: true });
    fs.copyFileSync(o.arg, path.join(o.metadataDir, 'root.json'));
    return;
  }
  const updater = new Updater({
    metadataDir: o.metadataDir,
    metadataBaseUrl: withSlash(o.metadataUrl),
    targetDir: o.targetDir,
    targetBaseUrl: o.targetBaseUrl ? withSlash(o.targetBaseUrl) : undefined,
    config: { fetchRetry: 0, fetchTimeout: 10000 },
  });
  await updater.refresh();
  if (o.cmd === 'refresh') return;
  if (o.cmd !== 'download') throw new Error(`unknown command ${o.cmd}`);
  for (const name of o.targets) {
    const info = await updater.getTargetInfo(name);
    if (!info) throw new Error(`target ${name}: not found in trusted metadata`);
    const cached = await updater.findCachedTarget(info);
    if (!cached) await updater.downloadTarget(info);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`tuf-js: ${e && e.message ? e.message : e}\n`);
    process.exit(1);
  },
);
