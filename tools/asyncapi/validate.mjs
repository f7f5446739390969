// Parses an AsyncAPI document with the official parser (@asyncapi/parser) and checks every
// message example (payload and headers) against the message's schemas as the parser resolved
// them, with Ajv (JSON Schema 2020-12, formats asserted). Prints one JSON object:
// {"parsed", "errors", "diagnostics": [{code, severity, message, path}], "examples", "example_errors": [...]}
// and exits 1 on any parser error or example that does not validate.
// Severity: 0 error, 1 warning, 2 information, 3 hint (Spectral's scale).
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const path = process.argv[2];
if (!path) {
  console.error("usage: node validate.mjs DOCUMENT");
  process.exit(2);
}
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(path, "utf8"), { source: path });
const out = diagnostics.map((d) => ({ code: d.code, severity: d.severity, message: d.message, path: d.path.join("/") }));
const errors = out.filter((d) => d.severity === 0).length;

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const exampleErrors = [];
let examples = 0;
function check(schema, value, where) {
  if (!schema) return;
  const validate = ajv.compile(schema);
  if (!validate(value)) exampleErrors.push({ where, errors: validate.errors.map((e) => `${e.instancePath} ${e.message}`) });
}
if (document) {
  for (const message of document.allMessages()) {
    const payload = message.payload()?.json();
    const headers = message.headers()?.json();
    for (const example of message.examples().all()) {
      examples += 1;
      const where = `${message.id()}/${example.name() ?? examples}`;
      if (example.hasPayload()) check(payload, example.payload(), `${where}/payload`);
      else if (payload) exampleErrors.push({ where, errors: ["no payload"] });
      if (headers) check(headers, example.headers() ?? {}, `${where}/headers`);
    }
  }
}
console.log(JSON.stringify({ parsed: document !== undefined, errors, diagnostics: out, examples, example_errors: exampleErrors }));
process.exit(errors === 0 && document !== undefined && exampleErrors.length === 0 ? 0 : 1);
