//! Progress bars for the CLI: an [`indicatif`] implementation of
//! [`darkprobe_core::progress::Progress`].
//!
//! Bars are drawn on stderr only when it is a terminal and `--quiet` was not
//! given, so logs and CI output stay clean.

use darkprobe_core::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;

/// A progress bar on stderr (hidden when not a terminal or when quiet).
#[derive(Debug)]
pub struct BarProgress {
    visible: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl BarProgress {
    /// A reporter that draws only if `!quiet` and stderr is a terminal.
    pub fn new(quiet: bool) -> Self {
        Self {
            visible: !quiet && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        }
    }

    /// Whether bars are drawn.
    pub fn is_visible(&self) -> bool {
        self.visible
    }
}

impl Progress for BarProgress {
    fn start(&self, label: &str, total: u64) {
        let bar = if self.visible {
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{msg:>28} [{bar:40}] {pos}/{len} ({eta})")
            {
                b.set_style(style.progress_chars("=> "));
            }
            b
        } else {
            ProgressBar::hidden()
        };
        bar.set_message(label.to_string());
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(old) = slot.replace(bar) {
                old.finish_and_clear();
            }
        }
    }

    fn inc(&self, n: u64) {
        if let Ok(slot) = self.bar.lock() {
            if let Some(b) = slot.as_ref() {
                b.inc(n);
            }
        }
    }

    fn finish(&self) {
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(b) = slot.take() {
                b.finish_and_clear();
            }
        }
    }
}
