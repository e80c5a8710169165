// Reads `{ "typedData": …, "account": "0x…" }` from stdin and prints starknet.js's SNIP-12
// message hash of the typed data for that account (hex, one line); with `"encodeType": "Name"`
// it prints starknet.js's encoded type string of that type instead. Exits 1 with starknet.js's
// error text on stderr when it refuses the typed data, 2 when the input is not that JSON.
import { typedData as td } from 'starknet';

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function fail(code, message) {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

let input;
try {
  input = JSON.parse(await readStdin());
} catch (e) {
  fail(2, `stdin is not JSON: ${e.message}`);
}
const { typedData, account, encodeType } = input ?? {};
if (typedData === undefined || typeof account !== 'string') {
  fail(2, 'stdin must be { "typedData": {…}, "account": "0x…" }');
}
if (!td.validateTypedData(typedData)) {
  fail(1, 'starknet.js validateTypedData refused the typed data');
}
try {
  const out =
    typeof encodeType === 'string'
      ? td.encodeType(typedData.types, encodeType, String(typedData.domain?.revision ?? '0'))
      : td.getMessageHash(typedData, account);
  process.stdout.write(`${out}\n`);
} catch (e) {
  fail(1, `starknet.js: ${e?.message ?? e}`);
}
