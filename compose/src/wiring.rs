//! The steps both compositions take with `wac-graph` ([`crate::plug`] and [`crate::suite`]):
//! register a component, satisfy an import with the export of the same name, export an
//! instance's export from the result, encode it; and the error of a step, which names the part
//! it is about.

use std::error::Error as StdError;
use std::fmt::{Debug, Display};

use thiserror::Error;
use wac_graph::types::Package;
use wac_graph::{
    AliasError, CompositionGraph, EncodeError, EncodeOptions, ExportError,
    InstantiationArgumentError, NodeId, PackageId, RegisterPackageError,
};

/// A step of a composition that failed; `P` names the parts (the app and the virt for
/// [`crate::plug`]: [`crate::Role`], the three parts of a test run for [`crate::suite`]).
#[derive(Debug, Error)]
pub enum WiringError<P> {
    /// A part is not a valid binary component.
    #[error("failed to parse the {part} as a WebAssembly component")]
    Parse {
        /// The part that failed to parse.
        part: P,
        /// Why it failed.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A part could not be added to the composition graph.
    #[error("failed to register the {part} with the composition graph")]
    Register {
        /// The part.
        part: P,
        /// Why it could not be registered.
        #[source]
        source: RegisterPackageError,
    },
    /// An export of a part could not be referred to in the composition.
    #[error("failed to use export `{name}` of the {part}")]
    Alias {
        /// The part whose export could not be aliased.
        part: P,
        /// The export's name.
        name: String,
        /// Why it could not be aliased.
        #[source]
        source: AliasError,
    },
    /// An export of one part does not fit the import of the same name of another.
    #[error("failed to plug the {from}'s export `{name}` into the {to}'s import of the same name")]
    Wire {
        /// The part whose export it is.
        from: P,
        /// The part whose import it is.
        to: P,
        /// The interface name.
        name: String,
        /// Why the two do not fit (typically a type mismatch, or a part built against another
        /// version of the interface).
        #[source]
        source: InstantiationArgumentError,
    },
    /// An export could not be exported from the composition.
    #[error("failed to export `{name}` from the composed component")]
    Export {
        /// The export's name.
        name: String,
        /// Why it could not be exported.
        #[source]
        source: ExportError,
    },
    /// The composition could not be encoded, or the encoded component is invalid.
    #[error("failed to encode the composed component")]
    Encode(#[source] EncodeError),
}

/// Parses `bytes` as the component `part` and registers it in `graph` under package `name`.
pub(crate) fn register<P: Copy + Debug + Display>(
    graph: &mut CompositionGraph,
    part: P,
    name: &str,
    bytes: &[u8],
) -> Result<PackageId, WiringError<P>> {
    match Package::from_bytes(name, None, bytes, graph.types_mut()) {
        Ok(package) => graph
            .register_package(package)
            .map_err(|source| WiringError::Register { part, source }),
        Err(source) => Err(WiringError::Parse {
            part,
            source: source.into(),
        }),
    }
}

/// Satisfies import `name` of instance `to` with the export of the same name of `from`.
pub(crate) fn wire<P: Copy + Debug + Display>(
    graph: &mut CompositionGraph,
    (from, from_part): (NodeId, P),
    (to, to_part): (NodeId, P),
    name: &str,
) -> Result<(), WiringError<P>> {
    let export = alias(graph, from, from_part, name)?;
    graph
        .set_instantiation_argument(to, name, export)
        .map_err(|source| WiringError::Wire {
            from: from_part,
            to: to_part,
            name: name.to_owned(),
            source,
        })
}

/// Exports `name` of `instance` (of `part`) from the composition under the same name.
pub(crate) fn re_export<P: Copy + Debug + Display>(
    graph: &mut CompositionGraph,
    instance: NodeId,
    part: P,
    name: &str,
) -> Result<(), WiringError<P>> {
    let export = alias(graph, instance, part, name)?;
    graph
        .export(export, name)
        .map_err(|source| WiringError::Export {
            name: name.to_owned(),
            source,
        })
}

/// Encodes (and validates) the composition.
pub(crate) fn encode<P: Copy + Debug + Display>(
    graph: &CompositionGraph,
) -> Result<Vec<u8>, WiringError<P>> {
    graph
        .encode(EncodeOptions::default())
        .map_err(WiringError::Encode)
}

/// Refers to export `name` of `instance` (of `part`).
fn alias<P: Copy + Debug + Display>(
    graph: &mut CompositionGraph,
    instance: NodeId,
    part: P,
    name: &str,
) -> Result<NodeId, WiringError<P>> {
    graph
        .alias_instance_export(instance, name)
        .map_err(|source| WiringError::Alias {
            part,
            name: name.to_owned(),
            source,
        })
}
