//! Bakes a [`Config`] into the keyvalue-virt component, and reads it back.
//!
//! The component's core module holds a slot in its data: [`SLOT_MAGIC`] followed by the `u32`
//! address and `u32` length of the configuration (see `src/config.rs`). Baking appends the
//! encoded configuration as a new active data segment in memory pages added after the module's
//! initial memory, where the allocator never reaches (it manages `__heap_base..__heap_end` and
//! grows memory past the current end), and fills in the slot. Everything else stays byte for
//! byte as it was.
//!
//! The slot is found wherever the virt's core module is: at the top level of the plain
//! component, or inside nested components, as in an application that `plug` composed with the
//! virt. Baking a nested virt re-encodes the lengths of the sections that enclose it.

use std::ops::Range;

use thiserror::Error;
use wasm_encoder::{ConstExpr, DataSection, Encode, MemorySection, MemoryType};
use wasmparser::{BinaryReader, DataKind, DataSectionReader, MemorySectionReader, Operator};

use crate::config::{Config, SLOT_MAGIC};

const PAGE: u64 = 65536;
const CORE_MODULE_SECTION: u8 = 1;
const COMPONENT_SECTION: u8 = 4;
const MEMORY_SECTION: u8 = 5;
const DATA_SECTION: u8 = 11;
const DATA_COUNT_SECTION: u8 = 12;
/// How deep [`find_slot`] descends into nested components; real compositions nest a few levels.
const MAX_NESTING: usize = 64;

/// An error from [`bake`] or [`read`].
#[derive(Debug, Error)]
pub enum BakeError {
    /// The bytes are not a component with the keyvalue-virt configuration slot.
    #[error("not a keyvalue-virt component: no configuration slot found")]
    NoSlot,
    /// The component has the slot twice.
    #[error("the component has more than one configuration slot")]
    ManySlots,
    /// The component already has a configuration baked in.
    #[error("the component already has a configuration baked in; start from the plain component")]
    AlreadyBaked,
    /// The binary is malformed where baking needs to read it.
    #[error("malformed component: {0}")]
    Malformed(String),
    /// The module's memory cannot grow to hold the configuration.
    #[error("the configuration ({bytes} bytes) does not fit in the module's maximum memory")]
    TooLarge {
        /// The size of the encoded configuration.
        bytes: usize,
    },
    /// The baked configuration cannot be decoded.
    #[error("the baked configuration cannot be read: {0}")]
    Corrupt(String),
    /// The result does not validate.
    #[error("the baked component does not validate")]
    Invalid(#[source] wasmparser::BinaryReaderError),
}

/// A section of a binary: its id and the ranges of its header and contents, as offsets in the
/// outermost binary.
#[derive(Debug, Clone)]
struct Section {
    id: u8,
    header: Range<usize>,
    content: Range<usize>,
}

/// Returns a copy of `virt` with `config` baked in.
///
/// The virt may be the component itself or nested inside it (an application plugged with a
/// plain virt).
pub fn bake(virt: &[u8], config: &Config) -> Result<Vec<u8>, BakeError> {
    let SlotLocation { path, slot } = find_slot(virt)?;
    let module = path.last().ok_or(BakeError::NoSlot)?;
    let module_bytes = &virt[module.content.clone()];
    if read_u32(module_bytes, slot + 20) != 0 {
        return Err(BakeError::AlreadyBaked);
    }
    let encoded = config.encode();
    let baked_module = bake_module(module_bytes, slot, &encoded)?;
    let out = replace_section(virt, &path, baked_module);

    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&out)
        .map_err(BakeError::Invalid)?;
    Ok(out)
}

/// Reads the configuration baked into `component`: `None` for a plain component, which runs
/// with the defaults.
///
/// `component` is the virt itself or a component that nests it, such as an application
/// plugged with it.
pub fn read(component: &[u8]) -> Result<Option<Config>, BakeError> {
    let SlotLocation { path, slot } = find_slot(component)?;
    let module = path.last().ok_or(BakeError::NoSlot)?;
    let module = &component[module.content.clone()];
    let address = read_u32(module, slot + 16);
    let len = read_u32(module, slot + 20);
    if len == 0 {
        return Ok(None);
    }
    let data = sections(module, 0..module.len(), 8)?
        .into_iter()
        .find(|s| s.id == DATA_SECTION)
        .ok_or_else(|| malformed("no data section"))?;
    let reader = DataSectionReader::new(BinaryReader::new(&module[data.content], 0))
        .map_err(|e| malformed(e.to_string()))?;
    for segment in reader {
        let segment = segment.map_err(|e| malformed(e.to_string()))?;
        if let DataKind::Active { offset_expr, .. } = segment.kind
            && const_i32(&offset_expr) == Some(address)
            && segment.data.len() == len as usize
        {
            return Config::decode(segment.data)
                .map(Some)
                .map_err(|problem| BakeError::Corrupt(problem.to_owned()));
        }
    }
    Err(BakeError::Corrupt(format!(
        "no data segment of {len} bytes at address {address}"
    )))
}

/// Where the slot is.
struct SlotLocation {
    /// The sections that lead to the core module holding the slot, outermost first: zero or
    /// more nested components, then the module.
    path: Vec<Section>,
    /// The slot's offset in the module's contents.
    slot: usize,
}

/// Finds the one core module that holds the slot, searching nested components too.
fn find_slot(component: &[u8]) -> Result<SlotLocation, BakeError> {
    let mut found = None;
    search(component, 0..component.len(), &mut Vec::new(), &mut found)?;
    let location = found.ok_or(BakeError::NoSlot)?;
    let module = location.path.last().ok_or(BakeError::NoSlot)?;
    if location.slot + 24 > module.content.len() {
        return Err(malformed("the configuration slot is cut off"));
    }
    Ok(location)
}

/// Looks for the slot in the core modules of the component at `range` of `binary`, and
/// descends into its nested components; `path` leads to that component.
fn search(
    binary: &[u8],
    range: Range<usize>,
    path: &mut Vec<Section>,
    found: &mut Option<SlotLocation>,
) -> Result<(), BakeError> {
    for section in sections(binary, range, 8)? {
        match section.id {
            CORE_MODULE_SECTION => {
                let mut hits = find_all(&binary[section.content.clone()], SLOT_MAGIC);
                match (hits.next(), hits.next(), &found) {
                    (None, _, _) => {}
                    (Some(slot), None, None) => {
                        let mut path = path.clone();
                        path.push(section);
                        *found = Some(SlotLocation { path, slot });
                    }
                    _ => return Err(BakeError::ManySlots),
                }
            }
            COMPONENT_SECTION => {
                if path.len() >= MAX_NESTING {
                    return Err(malformed(format!(
                        "components nested more than {MAX_NESTING} deep"
                    )));
                }
                let content = section.content.clone();
                path.push(section);
                search(binary, content, path, found)?;
                path.pop();
            }
            _ => {}
        }
    }
    Ok(())
}

/// Returns `binary` with the contents of the last section of `path` replaced by `content`, and
/// the lengths of the sections enclosing it (the rest of `path`) adjusted to match.
fn replace_section(binary: &[u8], path: &[Section], content: Vec<u8>) -> Vec<u8> {
    let mut content = content;
    for (depth, section) in path.iter().enumerate().rev() {
        let mut encoded = Vec::with_capacity(content.len() + 6);
        encoded.push(section.id);
        content.len().encode(&mut encoded);
        encoded.extend_from_slice(&content);
        // What surrounds the section: the enclosing section's contents, or the whole binary.
        let outer = match depth.checked_sub(1) {
            Some(parent) => path[parent].content.clone(),
            None => 0..binary.len(),
        };
        let mut replaced = Vec::with_capacity(outer.len() + encoded.len());
        replaced.extend_from_slice(&binary[outer.start..section.header.start]);
        replaced.extend_from_slice(&encoded);
        replaced.extend_from_slice(&binary[section.content.end..outer.end]);
        content = replaced;
    }
    content
}

/// Rewrites the module: memory grown by the pages the configuration needs, the configuration
/// appended as an active data segment there, and the slot filled in.
fn bake_module(module: &[u8], slot: usize, config: &[u8]) -> Result<Vec<u8>, BakeError> {
    let sections = sections(module, 0..module.len(), 8)?;
    let data_section = sections
        .iter()
        .find(|s| s.id == DATA_SECTION)
        .ok_or_else(|| malformed("no data section"))?;
    // The whole slot (marker, address, length) must lie in the data section's segments.
    if slot < data_section.content.start || slot + 24 > data_section.content.end {
        return Err(malformed(
            "the configuration slot is not in the data section",
        ));
    }

    let mut out = module[..8].to_vec();
    let mut address = None;
    for section in &sections {
        let content = &module[section.content.clone()];
        match section.id {
            MEMORY_SECTION => {
                let (memory, start) = grow_memory(content, config.len())?;
                address = Some(start);
                push_section(&mut out, MEMORY_SECTION, &memory);
            }
            DATA_COUNT_SECTION => {
                let count = BinaryReader::new(content, 0)
                    .read_var_u32()
                    .map_err(|e| malformed(e.to_string()))?;
                let mut bytes = Vec::new();
                (count + 1).encode(&mut bytes);
                push_section(&mut out, DATA_COUNT_SECTION, &bytes);
            }
            DATA_SECTION => {
                let address =
                    address.ok_or_else(|| malformed("the memory section must come first"))?;
                let mut reader = BinaryReader::new(content, 0);
                let count = reader
                    .read_var_u32()
                    .map_err(|e| malformed(e.to_string()))?;
                let segments_start = reader.original_position() as usize;

                let mut segments = content[segments_start..].to_vec();
                let at = (slot - section.content.start)
                    .checked_sub(segments_start)
                    .ok_or_else(|| malformed("the configuration slot overlaps a section header"))?;
                segments[at + 16..at + 20].copy_from_slice(&address.to_le_bytes());
                segments[at + 20..at + 24].copy_from_slice(&(config.len() as u32).to_le_bytes());

                let mut appended = DataSection::new();
                appended.active(
                    0,
                    &ConstExpr::i32_const(address as i32),
                    config.iter().copied(),
                );
                // The encoded section is its length, the count (1), then the segment; keep the
                // segment.
                let mut one = Vec::new();
                appended.encode(&mut one);
                let one = strip_section_prefix(&one)?;
                let mut count_reader = BinaryReader::new(one, 0);
                count_reader
                    .read_var_u32()
                    .map_err(|e| malformed(e.to_string()))?;
                let one = &one[count_reader.original_position() as usize..];

                let mut bytes = Vec::new();
                (count + 1).encode(&mut bytes);
                bytes.extend_from_slice(&segments);
                bytes.extend_from_slice(one);
                push_section(&mut out, DATA_SECTION, &bytes);
            }
            _ => out.extend_from_slice(&module[section.header.start..section.content.end]),
        }
    }
    if address.is_none() {
        return Err(malformed("the module defines no memory"));
    }
    Ok(out)
}

/// Re-encodes a memory section with its one memory grown to hold `bytes` more; returns the
/// section contents and the address where the new pages start.
fn grow_memory(content: &[u8], bytes: usize) -> Result<(Vec<u8>, u32), BakeError> {
    let reader = MemorySectionReader::new(BinaryReader::new(content, 0))
        .map_err(|e| malformed(e.to_string()))?;
    let memories = reader
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| malformed(e.to_string()))?;
    let [memory] = memories.as_slice() else {
        return Err(malformed("expected exactly one memory"));
    };
    if memory.memory64 || memory.page_size_log2.is_some() {
        return Err(malformed("expected a 32-bit memory with 64 KiB pages"));
    }
    let start = memory.initial * PAGE;
    let pages = (bytes as u64).div_ceil(PAGE);
    let initial = memory.initial + pages;
    let too_large = BakeError::TooLarge { bytes };
    if initial * PAGE > u64::from(u32::MAX) || memory.maximum.is_some_and(|max| initial > max) {
        return Err(too_large);
    }
    let start = u32::try_from(start).map_err(|_| too_large)?;
    let mut section = MemorySection::new();
    section.memory(MemoryType {
        minimum: initial,
        maximum: memory.maximum,
        memory64: false,
        shared: memory.shared,
        page_size_log2: None,
    });
    let mut encoded = Vec::new();
    section.encode(&mut encoded);
    Ok((strip_section_prefix(&encoded)?.to_vec(), start))
}

/// The sections of the module or component binary at `range` of `binary`, after its
/// `header`-byte header; their ranges are offsets in `binary`.
fn sections(binary: &[u8], range: Range<usize>, header: usize) -> Result<Vec<Section>, BakeError> {
    let bytes = binary
        .get(range.clone())
        .ok_or_else(|| malformed("a section runs past the end"))?;
    if bytes.len() < header {
        return Err(malformed("shorter than a header"));
    }
    let mut reader = BinaryReader::new(&bytes[header..], (range.start + header) as u64);
    let mut sections = Vec::new();
    while !reader.eof() {
        let start = reader.original_position() as usize;
        let id = reader.read_u8().map_err(|e| malformed(e.to_string()))?;
        let len = reader
            .read_var_u32()
            .map_err(|e| malformed(e.to_string()))? as usize;
        let content_start = reader.original_position() as usize;
        if content_start + len > range.end {
            return Err(malformed("a section runs past the end"));
        }
        reader
            .read_bytes(len)
            .map_err(|e| malformed(e.to_string()))?;
        sections.push(Section {
            id,
            header: start..content_start,
            content: content_start..content_start + len,
        });
    }
    Ok(sections)
}

/// `wasm-encoder` encodes a section as its contents with a length prefix; returns the contents.
fn strip_section_prefix(encoded: &[u8]) -> Result<&[u8], BakeError> {
    let mut reader = BinaryReader::new(encoded, 0);
    let len = reader
        .read_var_u32()
        .map_err(|e| malformed(e.to_string()))? as usize;
    let start = reader.original_position() as usize;
    encoded
        .get(start..start + len)
        .ok_or_else(|| malformed("bad section encoding"))
}

fn push_section(out: &mut Vec<u8>, id: u8, content: &[u8]) {
    out.push(id);
    content.len().encode(out);
    out.extend_from_slice(content);
}

fn const_i32(expr: &wasmparser::ConstExpr<'_>) -> Option<u32> {
    match expr.get_operators_reader().read().ok()? {
        Operator::I32Const { value } => Some(value as u32),
        _ => None,
    }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut raw = [0; 4];
    raw.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(raw)
}

fn find_all<'a>(haystack: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(move |(_, window)| *window == needle)
        .map(|(at, _)| at)
}

fn malformed(what: impl Into<String>) -> BakeError {
    BakeError::Malformed(what.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ErrorCase, Fault, Op, Seed};

    /// A core module shaped like the virt's: one memory and the slot in an active segment.
    const MODULE: &str = r#"(core module
        (memory 1)
        (data (i32.const 16) "before")
        (data (i32.const 1024) "keyvalue-virt:cf\00\00\00\00\00\00\00\00")
    )"#;

    fn plain() -> Vec<u8> {
        wat::parse_str(format!("(component {MODULE})")).unwrap()
    }

    /// The virt nested two components deep, after an unrelated module, as in a composition.
    fn nested() -> Vec<u8> {
        wat::parse_str(format!(
            "(component (core module) (component (component {MODULE})) (core module))"
        ))
        .unwrap()
    }

    fn sample() -> Config {
        Config {
            allow: vec!["a".into()],
            max_value_size: Some(1 << 20),
            faults: vec![Fault::new(
                Op::Get,
                Some(2),
                ErrorCase::Other("boom".into()),
            )],
            // Larger than a page, so that memory grows by two pages.
            seeds: vec![Seed {
                bucket: "a".into(),
                key: "k".into(),
                value: vec![7; 70_000],
            }],
            ..Config::default()
        }
    }

    #[test]
    fn a_plain_component_has_nothing_baked() {
        assert_eq!(read(&plain()).unwrap(), None);
        assert_eq!(read(&nested()).unwrap(), None);
    }

    #[test]
    fn bake_then_read_round_trips() {
        let baked = bake(&plain(), &sample()).unwrap();
        assert_eq!(read(&baked).unwrap(), Some(sample()));
        assert!(matches!(
            bake(&baked, &sample()),
            Err(BakeError::AlreadyBaked)
        ));
    }

    #[test]
    fn the_slot_is_found_in_nested_components() {
        let baked = bake(&nested(), &sample()).unwrap();
        assert_eq!(read(&baked).unwrap(), Some(sample()));
        // Everything around the virt's module is kept.
        let modules = wasmparser::Parser::new(0)
            .parse_all(&baked)
            .filter(|p| matches!(p, Ok(wasmparser::Payload::ModuleSection { .. })))
            .count();
        assert_eq!(modules, 3);
    }

    #[test]
    fn a_baked_virt_plugged_into_a_component_is_read() {
        let baked = bake(&plain(), &sample()).unwrap();
        let outer = [
            &b"\0asm\x0d\0\x01\0"[..],
            &[COMPONENT_SECTION],
            &leb(baked.len()),
            &baked,
        ]
        .concat();
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&outer)
            .unwrap();
        assert_eq!(read(&outer).unwrap(), Some(sample()));
    }

    #[test]
    fn the_defaults_bake_and_read_back() {
        let baked = bake(&plain(), &Config::default()).unwrap();
        assert_eq!(read(&baked).unwrap(), Some(Config::default()));
    }

    #[test]
    fn no_slot_and_two_slots_are_errors() {
        let none = wat::parse_str("(component (core module (memory 1)))").unwrap();
        assert!(matches!(read(&none), Err(BakeError::NoSlot)));
        let two = wat::parse_str(format!("(component {MODULE} (component {MODULE}))")).unwrap();
        assert!(matches!(read(&two), Err(BakeError::ManySlots)));
        assert!(matches!(bake(&two, &sample()), Err(BakeError::ManySlots)));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let mut component = plain();
        for _ in 0..MAX_NESTING {
            component = [
                &b"\0asm\x0d\0\x01\0"[..],
                &[COMPONENT_SECTION],
                &leb(component.len()),
                &component,
            ]
            .concat();
        }
        assert!(read(&component).is_ok());
        component = [
            &b"\0asm\x0d\0\x01\0"[..],
            &[COMPONENT_SECTION],
            &leb(component.len()),
            &component,
        ]
        .concat();
        assert!(matches!(read(&component), Err(BakeError::Malformed(m)) if m.contains("nested")));
    }

    /// The slot's marker at the very end of the data section, with the address and length
    /// it should be followed by falling in a custom section after it: refused, not a slice
    /// out of range.
    #[test]
    fn a_slot_cut_off_by_the_end_of_the_data_section_is_refused() {
        let component = wat::parse_str(
            r#"(component (core module
                (memory 1)
                (data (i32.const 1024) "keyvalue-virt:cf")
                (@custom "" "\00\00\00\00\00\00\00\00")
            ))"#,
        )
        .unwrap();
        let error = bake(&component, &Config::default()).unwrap_err();
        assert!(
            error.to_string().contains("not in the data section"),
            "{error}"
        );
    }

    /// The shipped component with random bytes overwritten (around the slot, in the data
    /// section, anywhere): `bake` and `read` return errors or results, never panic. A fixed
    /// seed keeps the run the same every time; `.ci/fuzz` covers the decoders at length.
    #[test]
    fn damaged_components_are_errors_not_panics() {
        let shipped = crate::VIRT;
        let slot = find_all(shipped, SLOT_MAGIC)
            .next()
            .expect("the shipped slot");
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..300 {
            let mut virt = shipped.to_vec();
            let at = match round % 3 {
                0 => slot.saturating_sub(64) + (next() % 128) as usize,
                1 => (next() % 4096) as usize,
                _ => (next() % virt.len() as u64) as usize,
            };
            for i in 0..1 + (next() % 8) as usize {
                if let Some(byte) = virt.get_mut(at + i) {
                    *byte = next() as u8;
                }
            }
            let _ = read(&virt);
            let _ = bake(&virt, &Config::default());
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(read(b"").is_err());
        assert!(read(b"not wasm at all").is_err());
        let plain = plain();
        for len in 0..plain.len() {
            let _ = read(&plain[..len]);
            let _ = bake(&plain[..len], &sample());
        }
    }

    fn leb(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        n.encode(&mut out);
        out
    }
}
