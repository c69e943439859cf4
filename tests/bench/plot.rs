//! The two SVG plots: ns/op per operation and configuration (grouped bars), and `get` latency
//! against the number of keys (log x).

use std::path::Path;

use plotters::prelude::*;

use crate::report::{OPS, Results};
use crate::{Config, Runtime, VALUE_SIZE, Workload};

/// The bars and lines, one per configuration and runtime: (config, runtime, color).
const SERIES: [(Config, Runtime, RGBColor); 6] = [
    (Config::Floor, Runtime::Embedded, RGBColor(120, 120, 120)),
    (Config::Virt, Runtime::Embedded, RGBColor(31, 119, 180)),
    (Config::Host, Runtime::Embedded, RGBColor(255, 127, 14)),
    (Config::Floor, Runtime::Cli, RGBColor(190, 190, 190)),
    (Config::Virt, Runtime::Cli, RGBColor(140, 190, 230)),
    (Config::Host, Runtime::Cli, RGBColor(255, 190, 130)),
];

fn label(config: Config, runtime: Runtime) -> String {
    format!("{}, {}", config.name(), runtime.name())
}

fn fail(path: &Path, error: impl std::fmt::Debug) -> ! {
    panic!("failed to draw `{}`: {error:?}", path.display())
}

/// ns per call (per key for batches) of the 100-byte workloads of `workloads` (the first
/// single and batched one), a group of bars per operation.
pub fn ops(results: &Results, workloads: &[Workload], path: &Path) {
    // The groups: (label, workload, op); 1-MiB values would dwarf the rest, so they stay in
    // the table and the JSON.
    let mut groups: Vec<(String, &str, &str)> = Vec::new();
    for op in OPS {
        let workload = workloads.iter().find(|w| {
            w.value_size == VALUE_SIZE && results.row(&w.name, op, Runtime::Embedded).is_some()
        });
        if let Some(workload) = workload {
            let unit = if op.ends_with("-many") {
                " (per key)"
            } else {
                ""
            };
            groups.push((format!("{op}{unit}"), workload.name.as_str(), op));
        }
    }
    let value = |workload: &str, op: &str, config, runtime| {
        results
            .get(workload, op, runtime, config)
            .map(|e| e.median())
    };
    let top = groups
        .iter()
        .flat_map(|(_, w, op)| SERIES.iter().filter_map(|(c, r, _)| value(w, op, *c, *r)))
        .fold(0.0, f64::max)
        * 1.15;

    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE).unwrap_or_else(|e| fail(path, e));
    let title = format!(
        "wasi:keyvalue, {} new keys of {VALUE_SIZE} B: ns per call (median)",
        groups
            .first()
            .and_then(|(_, w, _)| workloads.iter().find(|x| x.name == *w))
            .map_or(0, |w| w.keys)
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..groups.len() as f64 - 0.5, 0.0..top.max(1.0))
        .unwrap_or_else(|e| fail(path, e));
    let names: Vec<String> = groups.iter().map(|(name, _, _)| name.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("ns per call")
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .unwrap_or_else(|e| fail(path, e));

    let width = 0.8 / SERIES.len() as f64;
    for (s, (config, runtime, color)) in SERIES.iter().enumerate() {
        let bars: Vec<Rectangle<(f64, f64)>> = groups
            .iter()
            .enumerate()
            .filter_map(|(g, (_, w, op))| {
                let ns = value(w, op, *config, *runtime)?;
                let x = g as f64 - 0.4 + s as f64 * width;
                Some(Rectangle::new(
                    [(x, 0.0), (x + width * 0.9, ns)],
                    color.filled(),
                ))
            })
            .collect();
        if bars.is_empty() {
            continue;
        }
        let color = *color;
        chart
            .draw_series(bars)
            .unwrap_or_else(|e| fail(path, e))
            .label(label(*config, *runtime))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .unwrap_or_else(|e| fail(path, e));
    root.present().unwrap_or_else(|e| fail(path, e));
}

/// `get` latency against the keys stored, one line per configuration and runtime.
pub fn latency(results: &Results, latency: &[Workload], path: &Path) {
    let points = |config, runtime| -> Vec<(f64, f64)> {
        latency
            .iter()
            .filter_map(|w| {
                let ns = results.get(&w.name, "get", runtime, config)?.median();
                Some((w.keys as f64, ns))
            })
            .collect()
    };
    let top = SERIES
        .iter()
        .flat_map(|(c, r, _)| points(*c, *r))
        .map(|(_, ns)| ns)
        .fold(0.0, f64::max)
        * 1.15;
    let (min_keys, max_keys) = (
        latency.first().map_or(1.0, |w| w.keys as f64),
        latency.last().map_or(10.0, |w| w.keys as f64),
    );

    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE).unwrap_or_else(|e| fail(path, e));
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "wasi:keyvalue get, {VALUE_SIZE} B values: ns per call (median) by keys stored"
            ),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (min_keys / 1.5..max_keys * 1.5).log_scale(),
            0.0..top.max(1.0),
        )
        .unwrap_or_else(|e| fail(path, e));
    chart
        .configure_mesh()
        .x_desc("keys stored (log)")
        .y_desc("ns per get")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .unwrap_or_else(|e| fail(path, e));
    for (config, runtime, color) in SERIES {
        let line = points(config, runtime);
        if line.is_empty() {
            continue;
        }
        let style = color.stroke_width(2);
        let series = if runtime == Runtime::Embedded {
            chart.draw_series(LineSeries::new(line.clone(), style))
        } else {
            chart.draw_series(DashedLineSeries::new(line.clone(), 6, 4, style))
        };
        series
            .unwrap_or_else(|e| fail(path, e))
            .label(label(config, runtime))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        chart
            .draw_series(line.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .unwrap_or_else(|e| fail(path, e));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .unwrap_or_else(|e| fail(path, e));
    root.present().unwrap_or_else(|e| fail(path, e));
}
