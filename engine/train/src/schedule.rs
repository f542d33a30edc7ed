//! Learning-rate multipliers as HF transformers' `get_*_schedule_with_warmup` compute them.
//! `factor(step)` is the multiplier used by the optimizer step with 0-based index `step`
//! (HF calls `scheduler.step()` after `optimizer.step()`, so the first update uses factor(0)).
use crate::config::Schedule;

#[derive(Debug, Clone, Copy)]
pub struct LrSchedule {
    pub kind: Schedule,
    pub warmup: usize,
    pub total: usize,
}

impl LrSchedule {
    pub fn factor(&self, step: usize) -> f64 {
        if step < self.warmup {
            return step as f64 / self.warmup.max(1) as f64;
        }
        let decay_len = self.total.saturating_sub(self.warmup).max(1) as f64;
        match self.kind {
            Schedule::Constant => 1.0,
            Schedule::Linear => (self.total.saturating_sub(step) as f64 / decay_len).max(0.0),
            Schedule::Cosine => {
                let progress = (step - self.warmup) as f64 / decay_len;
                // num_cycles = 0.5: half a cosine from 1 to 0.
                (0.5 * (1.0 + (std::f64::consts::PI * 2.0 * 0.5 * progress).cos())).max(0.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_matches_hf_formula() {
        let s = LrSchedule { kind: Schedule::Cosine, warmup: 100, total: 168 };
        assert_eq!(s.factor(0), 0.0);
        assert_eq!(s.factor(50), 0.5);
        assert_eq!(s.factor(100), 1.0);
        // Halfway through the decay: cos(pi/2) = 0 -> 0.5.
        assert!((s.factor(134) - 0.5).abs() < 1e-12);
        assert!(s.factor(167) > 0.0 && s.factor(167) < 0.01);
        // The study's TruthfulQA run (99 steps) never leaves warmup: last update uses 0.98.
        let t = LrSchedule { kind: Schedule::Cosine, warmup: 100, total: 99 };
        assert!((t.factor(98) - 0.98).abs() < 1e-12);
    }

    #[test]
    fn linear_and_constant() {
        let l = LrSchedule { kind: Schedule::Linear, warmup: 2, total: 10 };
        assert_eq!(l.factor(1), 0.5);
        assert_eq!(l.factor(2), 1.0);
        assert_eq!(l.factor(6), 0.5);
        assert_eq!(l.factor(10), 0.0);
        let c = LrSchedule { kind: Schedule::Constant, warmup: 0, total: 10 };
        assert_eq!(c.factor(0), 1.0);
        assert_eq!(c.factor(9), 1.0);
    }
}
