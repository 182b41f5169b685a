// The caniemail.com lint of HTML emails: node doiuse.mjs CLIENTS FILE...
// CLIENTS is a comma-separated list of doiuse-email client globs (gmail.*, outlook.windows...).
// Prints one JSON object: {file: [[feature, client], ...]} with every feature a client
// does not support ("n"; partial support is a note, not an error).
import { readFileSync } from 'node:fs';
import { doIUseEmail } from '@jsx-email/doiuse-email';

const [clients, ...files] = process.argv.slice(2);
const unsupported = /^`(.+)` is not supported by `([^`]+)`$/;
const out = {};
for (const file of files) {
  const result = doIUseEmail(readFileSync(file, 'utf8'), { emailClients: clients.split(',') });
  out[file] = (result.errors || []).map((error) => {
    const match = unsupported.exec(error);
    return match ? [match[1], match[2]] : [error, ''];
  });
}
process.stdout.write(JSON.stringify(out) + '\n');
