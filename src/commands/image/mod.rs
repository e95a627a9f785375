//! `image …`: the Talos snapshots servers are created from (`build`, `list`, `prune`,
//! `rebuild`).

mod build;

pub(crate) use build::build_options;
mod list;
mod prune;
mod rebuild;

use std::num::NonZeroUsize;

use talos_hcloud::image::list::Snapshot;

use super::CliError;
use crate::cli::{GlobalArgs, ImageCommand};
use crate::printer::Printer;

/// Runs an `image` subcommand.
pub async fn run(command: ImageCommand, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    match command {
        ImageCommand::Build(args) => build::run(args, global, printer).await,
        ImageCommand::List => list::run(global, printer).await,
        ImageCommand::Prune(args) => prune::run(args, global, printer).await,
        ImageCommand::Rebuild(args) => rebuild::run(args, global, printer).await,
    }
}

/// `--keep N` as the library takes it (clap already refuses 0).
fn keep(n: u64) -> Result<NonZeroUsize, CliError> {
    usize::try_from(n)
        .ok()
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| CliError::invalid("--keep must be at least 1"))
}

/// The table columns of a snapshot: ID, version, arch, schematic (12 hex), size, age.
fn snapshot_cells(snapshot: &Snapshot) -> Vec<String> {
    vec![
        snapshot.id.to_string(),
        snapshot.talos_version.clone(),
        snapshot.arch.clone(),
        snapshot.schematic.chars().take(12).collect(),
        snapshot.image_size_gb.map_or_else(|| "-".to_string(), size),
        snapshot.age_seconds.map_or_else(|| "-".to_string(), age),
    ]
}

/// The headers of [`snapshot_cells`].
const SNAPSHOT_HEADERS: [&str; 6] = ["ID", "VERSION", "ARCH", "SCHEMATIC", "SIZE", "AGE"];

/// A size given in GB: `1.2 GB`, or `310 MB` below 1 GB.
fn size(gb: f64) -> String {
    if gb >= 1.0 {
        format!("{gb:.1} GB")
    } else {
        format!("{:.0} MB", gb * 1000.0)
    }
}

/// An age in the largest whole unit: `45s`, `12m`, `5h`, `3d`.
fn age(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86_400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86_400),
    }
}

/// `rows` under `headers`, columns left-aligned and two spaces apart, no trailing blanks.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = headers.iter().map(ToString::to_string).collect();
    std::iter::once(&header)
        .chain(rows)
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:width$}"))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::{age, size, table};

    #[test]
    fn ages_use_the_largest_whole_unit() {
        assert_eq!(age(0), "0s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(60), "1m");
        assert_eq!(age(7199), "1h");
        assert_eq!(age(86_400 * 3 + 5), "3d");
    }

    #[test]
    fn sizes_switch_to_megabytes_below_one_gigabyte() {
        assert_eq!(size(1.26), "1.3 GB");
        assert_eq!(size(0.3106), "311 MB");
        assert_eq!(size(0.0), "0 MB");
    }

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["1".to_string(), "long value".to_string()],
            vec!["22".into(), "-".into()],
        ];
        assert_eq!(table(&["ID", "X"], &rows), "ID  X\n1   long value\n22  -");
    }
}
