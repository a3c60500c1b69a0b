// Renders chat templates with @huggingface/jinja (the JS Jinja that transformers.js uses) to give the chat-template
// tests their expected strings. Input (stdin): JSON [{template, variables}], output (stdout): JSON [string | {error}].
// Run by ChatTemplateReferenceTests with node; the package comes from .ci/install-jinja.sh (.oracle/jinja, never committed).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(process.argv[2] + "/");
const { Template } = require("@huggingface/jinja");
const cases = JSON.parse(readFileSync(0, "utf8"));
const out = cases.map(c => {
  try { return new Template(c.template).render(c.variables); }
  catch (e) { return { error: String(e.message ?? e) }; }
});
process.stdout.write(JSON.stringify(out));
