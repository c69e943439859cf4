// Runs a command component that `jco transpile` turned into JavaScript, as `jco run` does but
// without transpiling it again: `node run.mjs MODULE.js ARGS...`. The component gets ARGS as
// its arguments (after its name) and, through preopen.mjs, KEYVALUE_VIRT_JCO_DIR as `/kv`.
import './preopen.mjs';
import { _setArgs } from '@bytecodealliance/preview2-shim/cli';
import { basename } from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const [module, ...args] = process.argv.slice(2);
_setArgs([basename(module, '.js'), ...args]);
const component = await import(pathToFileURL(module));
try {
    await component.run.run();
    process.exit(0);
} catch (error) {
    console.error(error);
    process.exit(1);
}
