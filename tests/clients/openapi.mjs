// Validators for what the gateway sends, built from OpenAI's official OpenAPI
// specification (testdata/openai/openai-openapi.yml, copied verbatim; see the
// README beside it). The JavaScript twin of internal/openapitest: both read
// the spec the same way, described in that package's documentation.
//
// The spec declares OpenAPI 3.1, whose schemas are JSON Schema 2020-12, so it
// is compiled with Ajv2020. A few keywords in it are OpenAPI 3.0 or JSON
// Schema 2019-09 leftovers that 2020-12 reads differently or not at all; they
// are rewritten to what their author meant, never loosened (normalize below).
// Ajv runs in strict-schema mode, so a keyword or format nobody declared
// fails loudly instead of being ignored. (The spec's typos `min_items` and
// `optional`, in fine-tuning, eval and transcription schemas, therefore stop
// those schemas from compiling here; none of SCHEMAS uses them. Go's
// validator treats them as the annotations JSON Schema says they are.)

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssertionError } from 'node:assert';

import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse as parseYAML } from 'yaml';

/** The repository root: tests/clients/../.. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The spec, relative to the repository root. */
export const SPEC_PATH = path.join(REPO_ROOT, 'testdata', 'openai', 'openai-openapi.yml');

/** The components.schemas the gateway's responses must satisfy. */
export const SCHEMAS = [
  'CreateChatCompletionResponse',
  'CreateChatCompletionStreamResponse',
  'CreateEmbeddingResponse',
  'ListModelsResponse',
  'Model',
  'ErrorResponse',
];

const SPEC_ID = 'https://tollgate.invalid/openai-openapi.json';

// Bump when loadSpec's output changes, so old cache files are not reused.
const CACHE_VERSION = 'v1';

/**
 * loadSpec returns the spec as plain JSON values. Parsing the 3 MB of YAML
 * takes close to a second, and node --test runs every test file in its own
 * process, so a JSON copy keyed by the spec's SHA-256 is kept in the temp
 * directory; a cache that cannot be read or written is only slower.
 */
export function loadSpec(file = SPEC_PATH) {
  const raw = readFileSync(file);
  const sum = createHash('sha256').update(raw).digest('hex');
  const cache = path.join(tmpdir(), `tollgate-openapi-js-${CACHE_VERSION}-${sum.slice(0, 24)}.json`);
  try {
    return { doc: JSON.parse(readFileSync(cache, 'utf8')), sha256: sum, size: raw.length };
  } catch {
    // no cache yet, or a broken one: parse the YAML
  }
  // The YAML 1.2 core schema: unquoted 200: stays a key (object keys are
  // strings in JS anyway), 2024-01-01 stays a string; duplicate keys throw.
  const doc = parseYAML(raw.toString('utf8'), { schema: 'core', uniqueKeys: true, merge: false });
  try {
    mkdirSync(path.dirname(cache), { recursive: true });
    const tmp = `${cache}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(doc));
    renameSync(tmp, cache);
  } catch {
    // read-only temp dir: do without the cache
  }
  return { doc, sha256: sum, size: raw.length };
}

// Keywords whose values are schemas, by shape.
const SCHEMA_MAP_KEYWORDS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'];
const SCHEMA_KEYWORDS = ['additionalProperties', 'additionalItems', 'items', 'contains', 'propertyNames', 'not',
  'if', 'then', 'else', 'unevaluatedItems', 'unevaluatedProperties', 'contentSchema'];
const SCHEMA_ARRAY_KEYWORDS = ['allOf', 'anyOf', 'oneOf', 'prefixItems', 'items'];

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * normalize rewrites, in place, in components.schemas and only at schema
 * positions (a property named "nullable" is left alone):
 *  - `nullable: true` (OpenAPI 3.0) → anyOf [{type: null}, the schema];
 *    `nullable: false` dropped;
 *  - `exclusiveMinimum: true` + `minimum: x` → `exclusiveMinimum: x` (and max);
 *  - `$recursiveAnchor: true` / `$recursiveRef: "#"` (2019-09) → a $ref to the
 *    component itself ("#" would be the whole spec here);
 *  - a name listed twice in `required` → once.
 * It throws on a form it does not know. It returns how many of each it did,
 * the set of annotation keywords (x-..., example, discriminator) found, which
 * Ajv is then told about, and where in the spec each schema object sits
 * (locations), to name the keyword behind a violation.
 */
export function normalize(doc) {
  const locations = new WeakMap();
  const stats = { nullable: 0, notNullable: 0, exclusiveBoolean: 0, recursiveRef: 0, recursiveAnchor: 0, duplicateRequired: 0 };
  const annotations = new Set();
  const schemas = doc?.components?.schemas;
  if (!isObject(schemas)) throw new Error('spec has no components.schemas');

  const visit = (s, loc, component) => {
    if (!isObject(s)) return;
    locations.set(s, loc);
    for (const kw of SCHEMA_MAP_KEYWORDS) {
      if (isObject(s[kw])) for (const [k, sub] of Object.entries(s[kw])) visit(sub, `${loc}/${kw}/${k}`, component);
    }
    for (const kw of SCHEMA_KEYWORDS) if (isObject(s[kw])) visit(s[kw], `${loc}/${kw}`, component);
    for (const kw of SCHEMA_ARRAY_KEYWORDS) {
      if (Array.isArray(s[kw])) s[kw].forEach((sub, i) => visit(sub, `${loc}/${kw}/${i}`, component));
    }

    for (const [excl, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']]) {
      if (typeof s[excl] !== 'boolean') continue;
      stats.exclusiveBoolean++;
      const flag = s[excl];
      delete s[excl];
      if (!flag) continue;
      if (!(bound in s)) throw new Error(`${loc}: ${excl}: true without ${bound}`);
      s[excl] = s[bound];
      delete s[bound];
    }

    if ('$recursiveAnchor' in s) {
      if (s.$recursiveAnchor !== true || loc !== component) throw new Error(`${loc}: unsupported $recursiveAnchor`);
      delete s.$recursiveAnchor;
      stats.recursiveAnchor++;
    }
    if ('$recursiveRef' in s) {
      if (s.$recursiveRef !== '#' || '$ref' in s) throw new Error(`${loc}: unsupported $recursiveRef`);
      delete s.$recursiveRef;
      s.$ref = component;
      stats.recursiveRef++;
    }

    if (Array.isArray(s.required)) {
      const uniq = [...new Set(s.required)];
      stats.duplicateRequired += s.required.length - uniq.length;
      s.required = uniq;
    }

    for (const k of Object.keys(s)) {
      if (k.startsWith('x-') || k === 'example' || k === 'discriminator') annotations.add(k);
    }

    if ('nullable' in s) {
      if (typeof s.nullable !== 'boolean') throw new Error(`${loc}: nullable is not a boolean`);
      const nullable = s.nullable;
      delete s.nullable;
      if (!nullable) {
        stats.notNullable++;
        return;
      }
      stats.nullable++;
      const rest = { ...s };
      for (const k of Object.keys(s)) delete s[k];
      s.anyOf = [{ type: 'null' }, rest];
      locations.set(s.anyOf[0], `${loc}/anyOf/0`);
      locations.set(rest, `${loc}/anyOf/1`);
    }
  };
  for (const [name, s] of Object.entries(schemas)) {
    const component = `#/components/schemas/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    visit(s, component, component);
  }
  return { stats, annotations, locations };
}

/** unixtime: whole seconds since 1970, below 1e11 so milliseconds fail. */
const unixtime = { type: 'number', validate: (n) => Number.isInteger(n) && n >= 0 && n < 1e11 };
/** int64: an integer that fits in 64 bits (as far as a JS number can tell). */
const int64 = { type: 'number', validate: (n) => Number.isInteger(n) && Math.abs(n) <= 2 ** 63 };

/**
 * buildValidators loads, normalizes and compiles the spec, returning
 * {ajv, validate(name) → Ajv validate function, where(ajvError) → spec
 * location of the failing keyword, stats, sha256, size}.
 */
export function buildValidators(file = SPEC_PATH) {
  const { doc, sha256, size } = loadSpec(file);
  const { stats, annotations, locations } = normalize(doc);

  const ajv = new Ajv2020({
    allErrors: true, // list every violation, not just the first
    verbose: true, // errors carry parentSchema, found in locations
    strictSchema: true, // unknown keywords and formats throw
    strictNumbers: true,
    strictTypes: false, // the spec often omits `type: object` beside `properties`: a style point, not a rule
    strictTuples: false,
    strictRequired: false,
    validateFormats: true,
  });
  addFormats(ajv); // date, uri, ... as the standard defines them
  ajv.addFormat('unixtime', unixtime);
  ajv.addFormat('int64', int64);
  // The spec's "double", "float" and "binary" say nothing JSON can check.
  for (const f of ['double', 'float', 'binary']) ajv.addFormat(f, true);
  // Annotations that assert nothing, as in OpenAPI 3.1: discriminator is a
  // hint, the oneOf/anyOf beside it still decides.
  ajv.addVocabulary([...annotations].sort());
  // `components` only holds the spec's schemas under the root added below.
  ajv.addKeyword('components');
  ajv.addSchema({ $id: SPEC_ID, components: { schemas: doc.components.schemas } });

  const compiled = new Map();
  const validate = (name) => {
    if (!compiled.has(name)) {
      if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`bad schema name ${JSON.stringify(name)}`);
      if (!Object.hasOwn(doc.components.schemas, name)) throw new Error(`the spec has no components.schemas.${name}`);
      const fn = ajv.getSchema(`${SPEC_ID}#/components/schemas/${name}`);
      if (!fn) throw new Error(`cannot compile components.schemas.${name}`);
      compiled.set(name, fn);
    }
    return compiled.get(name);
  };
  for (const name of SCHEMAS) validate(name);
  const where = (e) => {
    const loc = locations.get(e.parentSchema);
    return loc ? `${loc}/${e.keyword}` : e.schemaPath;
  };
  return { ajv, validate, where, stats, sha256, size };
}

let validators;

/** spec returns the process-wide validators, built on first use. */
export function spec() {
  validators ??= buildValidators();
  return validators;
}

/**
 * check returns the violations of obj against components.schemas.<name>, as
 * strings "<JSON pointer>: <message> [<schema location>]"; [] when valid.
 */
export function check(name, obj) {
  const { validate, where } = spec();
  const fn = validate(name);
  if (fn(obj)) return [];
  return fn.errors.map((e) => {
    let msg = e.message;
    if (e.keyword === 'enum') msg += ` ${JSON.stringify(e.params.allowedValues)}`;
    if (e.keyword === 'additionalProperties') msg += ` (${e.params.additionalProperty})`;
    return `${e.instancePath || '(root)'}: ${msg} [${where(e)}]`;
  });
}

/**
 * assertValid throws an AssertionError listing every violation when obj (a
 * parsed JSON value) breaks OpenAI's components.schemas.<name>.
 */
export function assertValid(name, obj) {
  const violations = check(name, obj);
  if (violations.length === 0) return;
  const body = JSON.stringify(obj);
  throw new AssertionError({
    message: `${violations.length} violation(s) of OpenAI's ${name}:\n  ${violations.join('\n  ')}\n` +
      `body: ${body.length > 2000 ? `${body.slice(0, 2000)}...` : body}`,
    actual: obj,
    expected: name,
    operator: 'assertValid',
  });
}

/**
 * parseSSE checks a whole chat completion stream body as OpenAI sends it
 * (only `data: ...` lines, each followed by a blank line; chunks valid
 * against CreateChatCompletionStreamResponse sharing id, created and model;
 * an error event valid against ErrorResponse ends the stream; otherwise
 * `data: [DONE]` does) and returns the parsed payloads without [DONE]. It
 * throws an AssertionError listing every problem.
 */
export function parseSSE(text) {
  const problems = [];
  const events = [];
  if (text.includes('\r')) problems.push('contains "\\r": OpenAI separates lines with "\\n" only');
  let body = text.replaceAll('\r', '');
  if (body.endsWith('\n\n')) body = body.slice(0, -2);
  else problems.push('does not end with a blank line');
  let first;
  let ended = '';
  body.split('\n\n').forEach((ev, i) => {
    const n = `event ${i + 1}`;
    if (ev === '') return problems.push(`${n}: empty event`);
    if (ev.includes('\n')) return problems.push(`${n}: more than one line: ${JSON.stringify(ev)}`);
    if (!ev.startsWith('data: ')) return problems.push(`${n}: not a data: line: ${JSON.stringify(ev)}`);
    const payload = ev.slice('data: '.length);
    if (ended) return problems.push(`${n}: follows ${ended}: ${payload}`);
    if (payload === '[DONE]') {
      ended = '[DONE]';
      return undefined;
    }
    let obj;
    try {
      obj = JSON.parse(payload);
    } catch (err) {
      return problems.push(`${n}: not JSON (${err.message}): ${payload}`);
    }
    events.push(obj);
    if (isObject(obj) && 'error' in obj) {
      ended = 'an error event';
      return problems.push(...check('ErrorResponse', obj).map((v) => `${n} (ErrorResponse): ${v}`));
    }
    problems.push(...check('CreateChatCompletionStreamResponse', obj).map((v) => `${n} (CreateChatCompletionStreamResponse): ${v}`));
    if (!first) {
      first = obj;
      return undefined;
    }
    for (const k of ['id', 'created', 'model']) {
      if (obj[k] !== first[k]) problems.push(`${n}: ${k} is ${obj[k]}, the first chunk's is ${first[k]}`);
    }
    return undefined;
  });
  if (!ended) problems.push('ends without data: [DONE] or an error event');
  if (problems.length > 0) {
    throw new AssertionError({
      message: `stream breaks OpenAI's SSE format:\n  ${problems.join('\n  ')}\ntranscript:\n${text.slice(0, 4000)}`,
      operator: 'parseSSE',
    });
  }
  return events;
}
