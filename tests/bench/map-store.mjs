// wasi:keyvalue@0.2.0-draft (`store`, `atomics`, `batch`) on a plain JavaScript `Map`: what the
// bench app is compared with on jco. `cargo bench --bench calls` transpiles the unplugged bench
// app with `jco transpile --map 'wasi:keyvalue/*@0.2.0-draft=.../map-store.mjs#*'`, so each
// interface is the export of the same name here. Like wasmtime's host store: bucket `""`
// only, in memory, fresh per process.

class Bucket {
    #data = new Map();

    get(key) {
        return this.#data.get(key);
    }

    set(key, value) {
        this.#data.set(key, value);
    }

    delete(key) {
        this.#data.delete(key);
    }

    exists(key) {
        return this.#data.has(key);
    }

    listKeys(_cursor) {
        return { keys: [...this.#data.keys()], cursor: undefined };
    }
}

const buckets = new Map();

export const store = {
    Bucket,
    open(identifier) {
        if (identifier !== '') {
            throw { tag: 'no-such-store' };
        }
        let bucket = buckets.get(identifier);
        if (bucket === undefined) {
            bucket = new Bucket();
            buckets.set(identifier, bucket);
        }
        return bucket;
    },
};

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export const atomics = {
    increment(bucket, key, delta) {
        const old = bucket.get(key);
        const next = (old === undefined ? 0n : BigInt(decoder.decode(old))) + delta;
        bucket.set(key, encoder.encode(next.toString()));
        return next;
    },
};

export const batch = {
    getMany(bucket, keys) {
        return keys.map((key) => {
            const value = bucket.get(key);
            return value === undefined ? undefined : [key, value];
        });
    },
    setMany(bucket, pairs) {
        for (const [key, value] of pairs) {
            bucket.set(key, value);
        }
    },
    deleteMany(bucket, keys) {
        for (const key of keys) {
            bucket.delete(key);
        }
    },
};
