//! Every aggregation method on the same seeded synthetic crowd (20,000 tasks × 5 answers,
//! 400 workers, 5 classes), plus the incremental update of one task by one answer.
//!
//! ```text
//! cargo bench -p tessera-core --bench aggregate
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_core::aggregate::synthetic::{Crowd, CrowdSpec};
use tessera_core::aggregate::{
    Aggregator, DawidSkene, Glad, Mace, MajorityVoteFit, OneCoinDawidSkene, Wawa,
    WeightedMajorityVote,
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

criterion_group!(benches, methods);
criterion_main!(benches);
