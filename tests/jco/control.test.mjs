// The control interface driven from JavaScript on jco, around the app's own export: the
// example HTTP counter (tests/http-counter: POST increments `requests` in bucket "" and answers
// the count, GET answers it), plugged with `keyvalue-virt plug --control` and transpiled with
// `jco transpile`, its `wasi:http` handler served by jco's own HTTP server (what `jco serve`
// runs) on one instance, which the control interface drives between requests.
//
//   keyvalue-virt plug http_counter.wasm --control -o counter.wasm
//   npx jco transpile counter.wasm -o transpiled/counter --name counter
//   KEYVALUE_VIRT_JCO_APP=transpiled/counter/counter.js node --test control.test.mjs
//
// tests/e2e/jco.rs does the same with the workspace's builds.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { HTTPServer } from '@bytecodealliance/preview2-shim/http';

const module = process.env.KEYVALUE_VIRT_JCO_APP;
assert.ok(module, 'set KEYVALUE_VIRT_JCO_APP to the transpiled app (its .js module)');
const app = await import(pathToFileURL(module));
// keyvalue-virt:control/control@0.1.0, next to the app's wasi:http/incoming-handler.
const { control, incomingHandler } = app;

const server = new HTTPServer(incomingHandler);
server.listen(0, '127.0.0.1');
const { port } = server.address();
after(() => server.stop());

const encode = (text) => new TextEncoder().encode(text);
const decode = (bytes) => new TextDecoder().decode(bytes);
const request = async (method) => {
    const response = await fetch(`http://127.0.0.1:${port}/`, { method });
    return { status: response.status, body: await response.text() };
};
// A logged call as [op, bucket, keys, outcome]: the outcome is a variant, `{ tag, val }`.
const calls = () => control.log().calls.map((c) => [c.op, c.bucket, c.keys, c.outcome]);

test('seed, run, then assert on the data and the calls', async () => {
    control.reset();
    control.set('', 'requests', encode('41'));

    assert.deepEqual(await request('POST'), { status: 200, body: '42\n' });
    assert.deepEqual(await request('POST'), { status: 200, body: '43\n' });

    assert.equal(decode(control.get('', 'requests')), '43');
    assert.deepEqual(control.keys(''), ['requests']);
    assert.deepEqual(calls(), [
        ['open', '', [], { tag: 'ok' }],
        ['increment', '', ['requests'], { tag: 'number', val: 42n }],
        ['open', '', [], { tag: 'ok' }],
        ['increment', '', ['requests'], { tag: 'number', val: 43n }],
    ]);
});

test('an increment fault: the POST answers 500 and the count stays; cleared, it counts', async () => {
    control.reset();
    control.set('', 'requests', encode('7'));
    control.addFault({ op: 'increment', error: { tag: 'other', val: 'disk on fire' } });

    assert.deepEqual(await request('POST'), {
        status: 500,
        body: 'key-value error: disk on fire\n',
    });
    assert.equal(decode(control.get('', 'requests')), '7');
    assert.deepEqual(calls().at(-1), [
        'increment',
        '',
        ['requests'],
        { tag: 'failed', val: { tag: 'other', val: 'disk on fire' } },
    ]);
    assert.deepEqual(await request('GET'), { status: 200, body: '7\n' });

    control.clearFaults();
    assert.deepEqual(await request('POST'), { status: 200, body: '8\n' });
    assert.equal(decode(control.get('', 'requests')), '8');
});

test('reset empties the store and the log; a refused fault throws its message', async () => {
    control.reset();
    assert.deepEqual(control.buckets(), []);
    assert.equal(control.get('', 'requests'), undefined);
    assert.deepEqual(calls(), []);
    assert.deepEqual(await request('GET'), { status: 200, body: '0\n' });

    assert.throws(
        () => control.addFault({ op: 'get', error: { tag: 'access-denied' }, nth: 0n }),
        (error) => String(error.payload).includes('`nth` 0 would never fire'),
    );
});
