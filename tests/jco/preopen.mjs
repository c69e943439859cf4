// Grants the host directory in KEYVALUE_VIRT_JCO_DIR to the component as `/kv`, as
// `wasmtime run --dir DIR::/kv` does; jco grants no directory by default. Passed to
// `jco run --jco-import` by tests/e2e/jco.rs.
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';

const dir = process.env.KEYVALUE_VIRT_JCO_DIR;
_setPreopens(dir ? { '/kv': dir } : {});
