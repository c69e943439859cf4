//! Real `redis-server` processes for the redis backend's tests (`keyvalue-virt-redis-server`),
//! and the configurations that point the component at them.

pub use keyvalue_virt_redis_server::{
    RedisCluster, RedisSentinel, RedisServer, TestCa, free_port, wait_until,
};

use keyvalue_virt_core::config::{BackendKind, Config, RedisConfig};

/// A configuration with the redis backend on a running server or cluster.
pub trait RedisConfigured {
    /// The configuration: this server (or every node of this cluster as a seed), no key
    /// prefix, a 2-second timeout.
    fn config(&self) -> Config;
}

impl RedisConfigured for RedisServer {
    fn config(&self) -> Config {
        redis_config(vec![self.url()])
    }
}

impl RedisConfigured for RedisCluster {
    fn config(&self) -> Config {
        redis_config(self.urls())
    }
}

impl RedisConfigured for RedisSentinel {
    /// The Sentinel as the only `--sentinel`, and its service.
    fn config(&self) -> Config {
        let mut config = redis_config(vec![self.url()]);
        config.redis.sentinel = Some(RedisSentinel::SERVICE.into());
        config
    }
}

fn redis_config(urls: Vec<String>) -> Config {
    Config {
        backend: BackendKind::Redis,
        redis: RedisConfig {
            urls,
            key_prefix: String::new(),
            timeout_ms: Some(2000),
            ..RedisConfig::default()
        },
        ..Config::default()
    }
}
