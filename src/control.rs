//! `keyvalue-virt:control/control`: conversions between the control interface's types and the
//! core's (`keyvalue_virt_core::control`), which does the work.

use alloc::string::String;
use alloc::vec::Vec;

use crate::Component;
use crate::bindings::exports::keyvalue_virt::control::control::{
    self as wit, Call, CallLog, Fault, Guest, Outcome,
};
use keyvalue_virt_core::config::{self, ErrorCase};
use keyvalue_virt_core::control::{self, Keys, Logged, Returned};
use keyvalue_virt_core::{Error, config::Op};

fn error(error: Error) -> wit::Error {
    case(error.into_case())
}

fn case(case: ErrorCase) -> wit::Error {
    match case {
        ErrorCase::NoSuchStore => wit::Error::NoSuchStore,
        ErrorCase::AccessDenied => wit::Error::AccessDenied,
        ErrorCase::Other(message) => wit::Error::Other(message),
    }
}

fn op_to_wit(op: Op) -> wit::Op {
    match op {
        Op::Open => wit::Op::Open,
        Op::Get => wit::Op::Get,
        Op::Set => wit::Op::Set,
        Op::Delete => wit::Op::Delete,
        Op::Exists => wit::Op::Exists,
        Op::ListKeys => wit::Op::ListKeys,
        Op::Increment => wit::Op::Increment,
        Op::CasNew => wit::Op::CasNew,
        Op::CasCurrent => wit::Op::CasCurrent,
        Op::Swap => wit::Op::Swap,
        Op::GetMany => wit::Op::GetMany,
        Op::SetMany => wit::Op::SetMany,
        Op::DeleteMany => wit::Op::DeleteMany,
    }
}

fn op_from_wit(op: wit::Op) -> Op {
    match op {
        wit::Op::Open => Op::Open,
        wit::Op::Get => Op::Get,
        wit::Op::Set => Op::Set,
        wit::Op::Delete => Op::Delete,
        wit::Op::Exists => Op::Exists,
        wit::Op::ListKeys => Op::ListKeys,
        wit::Op::Increment => Op::Increment,
        wit::Op::CasNew => Op::CasNew,
        wit::Op::CasCurrent => Op::CasCurrent,
        wit::Op::Swap => Op::Swap,
        wit::Op::GetMany => Op::GetMany,
        wit::Op::SetMany => Op::SetMany,
        wit::Op::DeleteMany => Op::DeleteMany,
    }
}

fn call(logged: Logged) -> Call {
    let (keys, sizes) = match logged.keys {
        Keys::None => (Vec::new(), Vec::new()),
        Keys::One(key) => (alloc::vec![key], Vec::new()),
        Keys::Written(key, size) => (alloc::vec![key], alloc::vec![size]),
        Keys::Many(keys) => (keys, Vec::new()),
        Keys::ManyWritten(pairs) => pairs.into_iter().unzip(),
    };
    Call {
        op: op_to_wit(logged.op),
        bucket: String::from(&*logged.bucket),
        keys,
        sizes,
        outcome: match logged.outcome {
            Returned::Ok => Outcome::Ok,
            Returned::Value(size) => Outcome::Value(size),
            Returned::None => Outcome::None,
            Returned::Flag(flag) => Outcome::Flag(flag),
            Returned::Number(n) => Outcome::Number(n),
            Returned::BigNumber(n) => Outcome::BigNumber(n),
            Returned::Page(keys, more) => Outcome::Page((keys, more)),
            Returned::Values(sizes) => Outcome::Values(sizes),
            Returned::Failed(error) => Outcome::Failed(case(error)),
        },
    }
}

impl Guest for Component {
    fn buckets() -> Result<Vec<String>, wit::Error> {
        control::buckets().map_err(error)
    }

    fn keys(bucket: String) -> Result<Vec<String>, wit::Error> {
        control::keys(&bucket).map_err(error)
    }

    fn get(bucket: String, key: String) -> Result<Option<Vec<u8>>, wit::Error> {
        control::get(&bucket, &key).map_err(error)
    }

    fn set(bucket: String, key: String, value: Vec<u8>) -> Result<(), wit::Error> {
        control::set(&bucket, key, value).map_err(error)
    }

    fn delete(bucket: String, key: String) -> Result<(), wit::Error> {
        control::delete(&bucket, &key).map_err(error)
    }

    fn reset() -> Result<(), wit::Error> {
        control::reset().map_err(error)
    }

    fn log() -> CallLog {
        let (calls, dropped) = control::log();
        CallLog {
            calls: calls.into_iter().map(call).collect(),
            dropped,
        }
    }

    fn clear_log() {
        control::clear_log()
    }

    fn set_log_limit(max: u32) {
        control::set_log_limit(max as usize)
    }

    fn add_fault(fault: Fault) -> Result<(), String> {
        control::add_fault(config::Fault {
            op: op_from_wit(fault.op),
            nth: fault.nth,
            error: match fault.error {
                wit::Error::NoSuchStore => ErrorCase::NoSuchStore,
                wit::Error::AccessDenied => ErrorCase::AccessDenied,
                wit::Error::Other(message) => ErrorCase::Other(message),
            },
            bucket: fault.bucket,
            key: fault.key,
        })
    }

    fn clear_faults() {
        control::clear_faults()
    }
}
