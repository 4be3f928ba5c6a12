// The openai-node transport's driver: sends requests through the official openai npm package and
// reports what the SDK yields and raises, with the wire bytes. One JSON object per line: requests on
// stdin ({id, request}), answers on stdout ({id, ...}), many in flight at once. The target and keys
// come from the environment (never argv, never printed): CONFORMANCE_BASE_URL, CONFORMANCE_API_KEY,
// CONFORMANCE_WRONG_KEY, CONFORMANCE_TIMEOUT_MS.
'use strict';

const path = require('node:path');
const readline = require('node:readline');
// the pinned package, from the install directory only (never a node_modules found elsewhere)
const SDK_DIR = path.join(process.env.NODE_PATH || '', 'openai');
const OpenAI = require(SDK_DIR);
const { toFile } = OpenAI;
const { VERSION: SDK_VERSION } = require(path.join(SDK_DIR, 'version'));

const BASE_URL = process.env.CONFORMANCE_BASE_URL;
const TIMEOUT_MS = Number(process.env.CONFORMANCE_TIMEOUT_MS || 60000);
const KEYS = {
  valid: process.env.CONFORMANCE_API_KEY || 'no-key-configured',
  wrong: process.env.CONFORMANCE_WRONG_KEY || 'sk-wrong',
  none: 'unused',
};
// what the SDK's stream helpers raise when they decline to parse a valid answer cut at max_tokens
const PARSE_REFUSALS = ['LengthFinishReasonError', 'ContentFilterFinishReasonError'];
// no connection could be made (a reset after sending is a broken answer, not an unreachable target)
const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

function write(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
}

// -- the wire: a fetch that records the answer's status, headers and bytes ------------------------
// The body is teed: the SDK reads one branch, the driver the other, to its end. The connection is
// the driver's, not the SDK's: an SDK that stops reading (it raised on a chunk) does not cut the
// recording short. Time out as httpx does: when nothing arrives for TIMEOUT_MS.
function capturingFetch(capture) {
  return async (url, init = {}) => {
    const controller = new AbortController();
    let timer = setTimeout(() => controller.abort(new Error(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    const rearm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(new Error(`nothing received for ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    };
    const { signal, ...rest } = init;
    capture.sent = true;
    let response;
    try {
      response = await fetch(url, { ...rest, signal: controller.signal });
    } catch (error) {
      clearTimeout(timer);
      capture.fetchError = error;
      capture.timedOut = controller.signal.aborted;
      throw error;
    }
    capture.status = response.status;
    capture.url = response.url || String(url);
    capture.headers = {};
    response.headers.forEach((value, name) => {
      capture.headers[name.toLowerCase()] = value;
    });
    if (!response.body) {
      clearTimeout(timer);
      capture.raw = Promise.resolve(Buffer.alloc(0));
      return response;
    }
    rearm();
    const [mine, theirs] = response.body.tee();
    capture.raw = (async () => {
      const parts = [];
      const reader = mine.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parts.push(Buffer.from(value));
          rearm();
        }
      } catch (error) {
        capture.broken = error;
        capture.timedOut = controller.signal.aborted;
      } finally {
        clearTimeout(timer);
      }
      return Buffer.concat(parts);
    })();
    return new Response(theirs, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

// -- mapping a request onto the SDK's surface -----------------------------------------------------
function requestOptions(request) {
  const options = {};
  if (request.params) options.query = request.params;
  if (request.auth === 'none') options.headers = { Authorization: null };
  return options;
}

async function formParams(request) {
  const params = {};
  for (const [key, value] of Object.entries(request.form || {})) {
    params[key.endsWith('[]') ? key.slice(0, -2) : key] = value;
  }
  for (const [field, [filename, data, type]] of Object.entries(request.files || {})) {
    params[field] = await toFile(Buffer.from(data, 'base64'), filename, { type });
  }
  return params;
}

// What the SDK hands back, as JSON: a page is the body it read with the items it yields (a body it
// read as text, not JSON, is that text: the page then silently holds no items).
function plain(value) {
  if (value && typeof value === 'object' && typeof value.getPaginatedItems === 'function') {
    if (typeof value.body === 'string') return value.body;
    const body = value.body && typeof value.body === 'object' ? value.body : {};
    return { ...body, data: value.getPaginatedItems() };
  }
  return value;
}

// Returns {value} for an answer, or {chunks, final} for a stream read through the SDK's helper.
async function call(client, request) {
  const { method, path, body } = request;
  const options = requestOptions(request);
  const isObject = body !== null && typeof body === 'object' && !Array.isArray(body);
  const streamed = isObject && body.stream === true;
  if (request.raw_body != null) {
    options.headers = { ...(options.headers || {}), 'Content-Type': request.content_type || 'application/json' };
    const verb = ['PATCH', 'PUT'].includes(method) ? method.toLowerCase() : 'post';
    return { value: await client[verb](path, { ...options, body: Buffer.from(request.raw_body, 'base64') }) };
  }
  if (method === 'GET' && path === '/models' && !request.params) return { value: await client.models.list(options) };
  if (method === 'GET' && path.startsWith('/models/') && path.length > '/models/'.length) {
    return { value: await client.models.retrieve(path.slice('/models/'.length), options) };
  }
  if (method === 'POST' && isObject && path === '/chat/completions') {
    if (streamed) return readStream(client.chat.completions.stream(body, options), (s) => s.finalChatCompletion());
    return { value: await client.chat.completions.create(body, options) };
  }
  if (method === 'POST' && isObject && path === '/responses') {
    if (streamed) return readStream(client.responses.stream(body, options), (s) => s.finalResponse());
    return { value: await client.responses.create(body, options) };
  }
  if (method === 'POST' && isObject && path === '/embeddings') return { value: await client.embeddings.create(body, options) };
  if (method === 'POST' && isObject && path === '/batches') return { value: await client.batches.create(body, options) };
  if (method === 'POST' && path === '/audio/transcriptions' && (request.form || request.files)) {
    const params = await formParams(request);
    const answer = await client.audio.transcriptions.create(params, options);
    if (answer && typeof answer[Symbol.asyncIterator] === 'function' && typeof answer.toReadableStream === 'function') return readStream(answer, null);
    return { value: answer };
  }
  const parts = path.split('/');
  if (path.startsWith('/batches/') && parts.length === 3 && parts[2] && method === 'GET') return { value: await client.batches.retrieve(parts[2], options) };
  if (path.startsWith('/batches/') && parts.length === 4 && parts[3] === 'cancel' && method === 'POST') {
    return { value: await client.batches.cancel(parts[2], options) };
  }
  if (path === '/batches' && method === 'GET') {
    const { query, ...rest } = options;
    return { value: await client.batches.list(query || {}, rest) };
  }
  if (method === 'GET') return { value: await client.get(path, options) };
  if (method === 'DELETE') return { value: await client.delete(path, options) };
  if (['PATCH', 'PUT'].includes(method)) return { value: await client[method.toLowerCase()](path, { ...options, body }) };
  const answer = await client.post(path, { ...options, body, stream: streamed });
  if (streamed) return readStream(answer, null);
  return { value: answer };
}

// A stream through the SDK: every chunk (event) it yields, then its helper's final accumulation.
async function readStream(stream, finish) {
  const chunks = [];
  let note = null;
  try {
    for await (const chunk of stream) chunks.push(chunk);
    if (finish) await finish(stream);
  } catch (error) {
    if (!PARSE_REFUSALS.includes(error && error.constructor && error.constructor.name)) {
      error.chunks = chunks;
      throw error;
    }
    note = `the openai Node SDK's stream helper declined to parse the answer (${describe(error)}); the stream itself was read`;
  }
  return { chunks, note };
}

function describe(error) {
  const name = (error && error.constructor && error.constructor.name) || 'Error';
  let message = error && error.message ? String(error.message).split('\n')[0] : String(error);
  for (const key of [KEYS.valid, KEYS.wrong]) {
    if (key && key.length >= 8) message = message.split(key).join('[REDACTED]');
  }
  return `${name}: ${message}`;
}

function causeCode(error) {
  for (let e = error, depth = 0; e && depth < 5; e = e.cause, depth++) {
    if (e.code) return e.code;
  }
  return null;
}

// -- one request ------------------------------------------------------------------------------------
async function handle(id, request) {
  const started = process.hrtime.bigint();
  const capture = {};
  const client = new OpenAI.OpenAI({
    apiKey: KEYS[request.auth] || KEYS.valid,
    baseURL: BASE_URL,
    maxRetries: 0,
    timeout: TIMEOUT_MS,
    fetch: capturingFetch(capture),
  });
  let outcome = null;
  let clientError = null;
  try {
    outcome = await call(client, request);
  } catch (error) {
    if (error instanceof OpenAI.APIError && error.status !== undefined && error.status !== null) {
      outcome = null; // an error status: judged from the wire, like any answer
    } else {
      if (!capture.sent || capture.fetchError) {
        const code = causeCode(capture.fetchError || error);
        if (!capture.sent) return write({ id, not_sent: describe(error) });
        const kind = capture.timedOut ? 'timeout' : CONNECT_CODES.has(code) ? 'connect' : 'broken';
        return write({ id, unjudgeable: { kind, message: `could not reach ${BASE_URL}: ${describe(capture.fetchError)}${code ? ` (${code})` : ''}` } });
      }
      clientError = describe(error);
      if (error.chunks) outcome = { chunks: error.chunks };
    }
  }
  const raw = capture.raw ? await capture.raw : Buffer.alloc(0);
  if (capture.broken) {
    const kind = capture.timedOut ? 'timeout' : 'broken';
    return write({ id, unjudgeable: { kind, message: `the connection broke while reading the answer (${capture.status}): ${describe(capture.broken)}` } });
  }
  const answer = {
    id,
    status: capture.status,
    headers: capture.headers || {},
    url: capture.url,
    raw: raw.toString('base64'),
    client_error: clientError,
    client_note: outcome && outcome.note ? outcome.note : null,
    elapsed_ms: Number(process.hrtime.bigint() - started) / 1e6,
  };
  if (outcome && 'value' in outcome) {
    answer.has_value = true;
    answer.value = plain(outcome.value);
  }
  if (outcome && outcome.chunks) answer.chunks = outcome.chunks;
  try {
    write(answer);
  } catch (error) {
    // a value JSON cannot carry (a BigInt, a cycle): the wire is still judged
    delete answer.value;
    answer.has_value = false;
    answer.chunks = undefined;
    answer.client_error = clientError || `the driver could not serialise what the SDK returned: ${describe(error)}`;
    write(answer);
  }
}

let pending = 0;
let closed = false;
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => {
  if (!line.trim()) return;
  let message;
  try {
    message = JSON.parse(line);
  } catch (error) {
    return write({ id: null, driver_error: `not a JSON line: ${describe(error)}` });
  }
  pending += 1;
  handle(message.id, message.request)
    .catch((error) => write({ id: message.id, driver_error: describe(error) }))
    .finally(() => {
      pending -= 1;
      if (closed && pending === 0) exitFlushed();
    });
});
// stdin closed: finish what is in flight, then exit
lines.on('close', () => {
  closed = true;
  if (pending === 0) exitFlushed();
});

// stdout to a pipe is written asynchronously: exit once what is written has gone out
function exitFlushed() {
  process.stdout.write('', () => process.exit(0));
}
write({ ready: true, sdk: SDK_VERSION, node: process.version });
