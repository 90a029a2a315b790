//! Interpreter throughput (transitions/s) for the scenarios in `sandflow_core::bench`, with and
//! without AWS history recording.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use sandflow_core::bench::scenarios;

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("transitions");
    for s in scenarios() {
        g.throughput(Throughput::Elements(s.transitions));
        g.bench_function(format!("{}/no_history", s.name), |b| {
            b.iter(|| s.run_once(false))
        });
        g.bench_function(format!("{}/history", s.name), |b| {
            b.iter(|| s.run_once(true))
        });
    }
    g.finish();
}

criterion_group!(interp, benches);
criterion_main!(interp);
