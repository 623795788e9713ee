// A real third-party gRPC client (Node's @grpc/grpc-js) calling a running arpc server.
//
// Usage: node client.js HOST:PORT [CASE,CASE,...]
//
// Loads the checked-in examples/hello/proto/hello.v1.proto at run time with
// @grpc/proto-loader. The modules come from the versions package-lock.json pins, installed
// outside the source tree (`bash .ci/test` runs `npm ci` in target/grpcjs and points NODE_PATH
// at its node_modules). Cases are named after the gRPC interop suite. Prints one line per
// case, `PASS name` or `FAIL name: why`; exits 1 if any failed. With a second argument, runs
// only the named cases, in that order.
'use strict';

const assert = require('node:assert/strict');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const ADDRESS = process.argv[2];
const MAX_MESSAGE = 4 * 1024 * 1024;
const PROTO = path.join(__dirname, '..', '..', '..', 'proto', 'hello.v1.proto');

const definition = protoLoader.loadSync(PROTO, {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const { Greeter } = grpc.loadPackageDefinition(definition).hello.v1;

// grpc.default_compression_algorithm: 0 identity, 1 deflate, 2 gzip.
const IDENTITY = 0;
const DEFLATE = 1;
const GZIP = 2;

// A client on its own channel. Compressed cases each take a fresh one: grpc-js stops
// compressing on a channel once a response's grpc-accept-encoding leaves the algorithm out,
// so a fresh channel is what makes its first call go out compressed.
function greeter(compression) {
  const options = {
    'grpc.max_receive_message_length': MAX_MESSAGE,
    'grpc.max_send_message_length': MAX_MESSAGE,
  };
  if (compression !== IDENTITY) {
    options['grpc.default_compression_algorithm'] = compression;
  }
  return new Greeter(ADDRESS, grpc.credentials.createInsecure(), options);
}

const plain = greeter(IDENTITY);

function unary(client, method, request, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + timeoutMs }, (err, reply) =>
      err ? reject(err) : resolve(reply),
    );
  });
}

function waitForReady(client, timeoutMs) {
  return new Promise((resolve, reject) => {
    client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve()));
  });
}

function assertZeros(payload, size) {
  assert.ok(Buffer.isBuffer(payload), `payload is a ${typeof payload}`);
  assert.equal(payload.length, size);
  assert.ok(payload.equals(Buffer.alloc(size)), 'the payload is not all zero bytes');
}

// The interop suite's large_unary sizes: compressible zero bytes both ways.
async function largeEcho(client) {
  const reply = await unary(client, 'Echo', {
    payload: Buffer.alloc(271828),
    response_size: 314159,
  });
  assertZeros(reply.payload, 314159);
}

async function compressedEcho(compression) {
  const client = greeter(compression);
  try {
    await largeEcho(client);
    // A second call on the same channel (the server's grpc-accept-encoding is known by now).
    await largeEcho(client);
  } finally {
    client.close();
  }
}

const CASES = {
  async empty_unary() {
    const reply = await unary(plain, 'Ping', {});
    assert.deepEqual(Object.keys(reply), []);
  },

  async large_unary() {
    await largeEcho(plain);
  },

  async gzip_unary() {
    await compressedEcho(GZIP);
  },

  async deflate_unary() {
    await compressedEcho(DEFLATE);
  },
};

function describe(err) {
  if (err && err.code !== undefined && err.details !== undefined) {
    const name = Object.keys(grpc.status).find((k) => grpc.status[k] === err.code);
    return `${name ?? err.code}: ${JSON.stringify(err.details)}`;
  }
  return String(err && err.message ? err.message : err).split('\n')[0];
}

async function main() {
  if (!ADDRESS) {
    console.error('usage: node client.js HOST:PORT [CASE,CASE,...]');
    process.exit(2);
  }
  await waitForReady(plain, 10000);
  const names = process.argv[3] ? process.argv[3].split(',') : Object.keys(CASES);
  let failed = 0;
  for (const name of names) {
    const fn = CASES[name];
    try {
      if (!fn) throw new Error(`no case named ${name}`);
      await fn();
      console.log(`PASS ${name}`);
    } catch (err) {
      failed += 1;
      console.log(`FAIL ${name}: ${describe(err)}`);
    }
  }
  plain.close();
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
