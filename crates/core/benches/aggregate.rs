//! Every aggregation method on the same seeded synthetic crowd (20,000 tasks × 5 answers,
//! 400 workers, 5 classes), plus the incremental update of one task by one answer; and
//! reading the benchmark crowd's 1,000,000 answers from CSV text, as a dataset (every
//! method) and as vote counts (majority vote alone).
//!
//! ```text
//! cargo bench -p tessera-core --bench aggregate
//! ```

use std::fmt::Write;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_core::aggregate::synthetic::{Crowd, CrowdSpec};
use tessera_core::aggregate::{
    Aggregator, Dataset, DawidSkene, Glad, Mace, MajorityVoteFit, OneCoinDawidSkene, VoteCounts,
    Wawa, WeightedMajorityVote,
};

fn methods(c: &mut Criterion) {
    let crowd = Crowd::generate(CrowdSpec {
        tasks: 20_000,
        workers: 400,
        ..CrowdSpec::million()
    });
    let data = crowd.to_dataset();
    let methods: Vec<Box<dyn Aggregator>> = vec![
        Box::new(MajorityVoteFit),
        Box::new(WeightedMajorityVote),
        Box::new(Wawa),
        Box::new(OneCoinDawidSkene::default()),
        Box::new(DawidSkene::default()),
        Box::new(Glad::default()),
        Box::new(Mace::default()),
    ];
    let mut group = c.benchmark_group("fit 100k answers");
    group.sample_size(10);
    for m in &methods {
        group.bench_function(m.name(), |b| b.iter(|| m.fit(black_box(&data))));
    }
    group.bench_function("auto", |b| {
        b.iter(|| DawidSkene::auto().fit(black_box(&data)))
    });
    group.finish();

    let (_, model) = DawidSkene::auto().fit_model(&data);
    let task = model.new_task();
    c.bench_function("incremental: one answer into a task", |b| {
        b.iter(|| {
            let mut t = task.clone();
            model.add_answer(&mut t, black_box(Some(17)), black_box(3));
            t.label()
        })
    });
}

fn reading(c: &mut Criterion) {
    let crowd = Crowd::generate(CrowdSpec::million());
    let mut text = String::from("task,worker,label\n");
    for &(t, w, l) in &crowd.to_dataset().answers {
        writeln!(text, "t{t},w{w},c{l}").expect("writing to a string");
    }
    let mut group = c.benchmark_group("read 1M answers from CSV");
    group.sample_size(10);
    group.bench_function("dataset", |b| {
        b.iter(|| Dataset::from_csv(black_box(&text)).map(|d| d.answers.len()))
    });
    group.bench_function("vote counts", |b| {
        b.iter(|| VoteCounts::from_csv(black_box(&text)).map(|v| v.tasks.len()))
    });
    group.finish();
}

criterion_group!(benches, methods, reading);
criterion_main!(benches);
