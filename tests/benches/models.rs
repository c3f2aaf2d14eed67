//! The model bench (issue 25), on VADER's 10,568 polar movie-review sentences
//! (`tests/data/vader-movie-snippets`, MIT):
//!
//! 1. The built-in model alone: training on 100,000 labeled sentences and predicting
//!    1,000,000 (both resampled from the set), timed, with the process's peak memory.
//! 2. A simulated crowd labeling through a real server (SQLite, over a socket): 9 annotators
//!    of accuracy 0.65–0.85, 3 answers a task, majority vote, the built-in model training in
//!    the background as the consensus grows. Once with today's queue order, once with
//!    `"order": "uncertainty"`. After each round: answers given, the project's label accuracy
//!    against the dataset (each task's consensus, or the model's prediction where the crowd
//!    has not finished), and the model's accuracy on the tasks without a consensus.
//!
//! ```text
//! cargo bench -p tessera-tests --bench models      # TESSERA_MODEL_BENCH_TASKS=N (default 4000)
//! ```

use std::collections::HashMap;
use std::io::Read;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_api::Role;
use tessera_client::ApiClient;
use tessera_core::{BuiltinModel, LabelSchema, QueueOrder, UploadFormat};
use tessera_server::ServerConfig;
use tessera_server::ml::{ModelConfig, builtin};
use tessera_tests::{Backend, TestServer, answer_push};

/// (sentence, label) of every polar sentence.
fn dataset() -> Vec<(String, &'static str)> {
    let path =
        tessera_tests::manifest_dir().join("data/vader-movie-snippets/movie_snippets.tsv.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("dataset"))
        .read_to_string(&mut text)
        .expect("gzip");
    text.lines()
        .filter_map(|line| {
            let mut cols = line.splitn(3, '\t');
            let (_, mean, sentence) = (cols.next()?, cols.next()?, cols.next()?);
            let mean: f64 = mean.parse().ok()?;
            let label = if mean > 0.0 {
                "positive"
            } else if mean < 0.0 {
                "negative"
            } else {
                return None;
            };
            Some((sentence.to_owned(), label))
        })
        .collect()
}

/// The process's peak resident memory so far (VmHWM), in MiB.
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn text_of(sentence: &str) -> String {
    let mut data = serde_json::Map::new();
    data.insert("text".to_owned(), sentence.into());
    builtin::text_of(&data)
}

fn model_speed(data: &[(String, &'static str)]) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let labels = vec!["positive".to_owned(), "negative".to_owned()];
    let texts: Vec<(String, String)> = data
        .iter()
        .map(|(s, l)| (text_of(s), (*l).to_owned()))
        .collect();
    let train: Vec<(String, String)> = (0..100_000)
        .map(|_| texts[rng.random_range(0..texts.len())].clone())
        .collect();
    let before = peak_mib();
    let started = Instant::now();
    let model = builtin::train(
        &train,
        &labels,
        &builtin::Settings::default(),
        "bench".into(),
    )
    .expect("train");
    let train_s = started.elapsed().as_secs_f64();
    let after_train = peak_mib();
    let predict: Vec<&str> = (0..1_000_000)
        .map(|_| texts[rng.random_range(0..texts.len())].0.as_str())
        .collect();
    let started = Instant::now();
    let mut positive = 0usize;
    for text in &predict {
        if model
            .predict(text)
            .is_some_and(|p| p.labels[0] == "positive")
        {
            positive += 1;
        }
    }
    let predict_s = started.elapsed().as_secs_f64();
    println!("## The built-in model alone (one thread)");
    println!(
        "train on 100,000 sentences: {train_s:.2} s; predict 1,000,000: {predict_s:.2} s \
         ({positive} positive); peak RSS {before:.0} MiB before training, {after_train:.0} MiB \
         after, {:.0} MiB after predicting",
        peak_mib()
    );
}

/// One simulated labeling run; the curve of (answers, label accuracy, model accuracy on the
/// tasks without consensus, labels the model trained on).
async fn crowd_run(
    data: &[(String, &'static str)],
    tasks: usize,
    order: QueueOrder,
) -> Vec<(usize, f64, Option<f64>, u64)> {
    let mut config = ServerConfig::default();
    config.models.tick = Duration::from_millis(100);
    config.models.training_every = Duration::from_millis(100);
    config.models.min_labels = 50;
    config.models.min_new_labels = 25;
    config.webhooks.enabled = false;
    let models = config.models.clone();
    let server = TestServer::start_with(Backend::Sqlite, config).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let mut schema = LabelSchema::from_json(
        r#"{"kind": "classification", "labels": ["positive", "negative"], "overlap": 3}"#,
    )
    .expect("schema");
    schema.model = Some(BuiltinModel::Builtin);
    schema.order = order;
    let project = requester
        .create_project("movie reviews", schema)
        .await
        .expect("project")
        .id;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut picked: Vec<usize> = (0..data.len()).collect();
    picked.shuffle(&mut rng);
    picked.truncate(tasks);
    let jsonl: String = picked
        .iter()
        .map(|&i| {
            serde_json::json!({"id": format!("s{i}"), "data": {"text": data[i].0}}).to_string()
                + "\n"
        })
        .collect();
    requester
        .upload(project, UploadFormat::Jsonl, jsonl)
        .await
        .expect("upload");
    let truth: HashMap<String, &str> = picked
        .iter()
        .map(|&i| (format!("s{i}"), data[i].1))
        .collect();
    let mut crowd: Vec<(ApiClient, f64)> = Vec::new();
    for a in 0..9 {
        let (client, _) = server.user(Role::Annotator, &format!("a{a}")).await;
        crowd.push((client, 0.65 + 0.2 * a as f64 / 8.0));
    }
    let text_truth: HashMap<&str, &str> = picked
        .iter()
        .map(|&i| (data[i].0.as_str(), data[i].1))
        .collect();
    let mut answers = 0usize;
    let mut curve = Vec::new();
    let budget = tasks * 3 * 3 / 4;
    while answers < budget {
        for (client, accuracy) in &crowd {
            let leased = client.lease(project, 20, None).await.expect("lease").tasks;
            let pushes = leased
                .iter()
                .map(|t| {
                    let right = text_truth
                        .get(t.data["text"].as_str().unwrap_or(""))
                        .copied()
                        .unwrap_or("positive");
                    let wrong = if right == "positive" {
                        "negative"
                    } else {
                        "positive"
                    };
                    let label = if rng.random_bool(*accuracy) {
                        right
                    } else {
                        wrong
                    };
                    answer_push(t.task_id, &[label])
                })
                .collect::<Vec<_>>();
            answers += pushes.len();
            client.push(pushes).await.expect("push");
        }
        settle(&requester, project, &models).await;
        let (label_accuracy, model_accuracy) = accuracy(&requester, project, &truth).await;
        let trained_on = trained_on(&requester, project).await;
        curve.push((answers, label_accuracy, model_accuracy, trained_on));
    }
    curve
}

/// How many labels the built-in model's latest run trained on (0: none yet).
async fn trained_on(requester: &ApiClient, project: i64) -> u64 {
    requester
        .stats(project)
        .await
        .expect("stats")
        .model_runs
        .last()
        .map_or(0, |r| r.trained_on)
}

/// Waits until the built-in model has caught up with the consensus (no training due).
async fn settle(requester: &ApiClient, project: i64, config: &ModelConfig) {
    let started = Instant::now();
    loop {
        let complete = requester.status(project).await.expect("status").complete;
        let trained = trained_on(requester, project).await;
        // The complete tasks are the training set: no gold here, single labels.
        if !config.training_due(trained as usize, complete as usize)
            || started.elapsed() > Duration::from_secs(120)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The project's label accuracy (consensus, else the model's prediction) over every task,
/// and the model's accuracy on the tasks without a consensus.
async fn accuracy(
    requester: &ApiClient,
    project: i64,
    truth: &HashMap<String, &str>,
) -> (f64, Option<f64>) {
    let records = tessera_tests::export_records(requester, project).await;
    let (mut right, mut model_right, mut model_n) = (0usize, 0usize, 0usize);
    for r in &records {
        let Some(t) = r.external_id.as_deref().and_then(|id| truth.get(id)) else {
            continue;
        };
        let model = r
            .more_predictions
            .iter()
            .rev()
            .find(|p| {
                p.model_version
                    .as_deref()
                    .is_some_and(|v| v.starts_with("tessera-builtin"))
            })
            .map(|p| p.labels.clone());
        let label = match (&r.consensus, r.complete) {
            (Some(c), true) => Some(c.labels.clone()),
            _ => {
                if let Some(m) = &model {
                    model_n += 1;
                    if m.first().map(String::as_str) == Some(*t) {
                        model_right += 1;
                    }
                }
                model
            }
        };
        if label.as_deref().and_then(|l| l.first()).map(String::as_str) == Some(*t) {
            right += 1;
        }
    }
    (
        right as f64 / records.len().max(1) as f64,
        (model_n > 0).then(|| model_right as f64 / model_n as f64),
    )
}

/// Answers a curve needs to reach `target` label accuracy (interpolated between rounds).
fn answers_to_reach(curve: &[(usize, f64, Option<f64>, u64)], target: f64) -> Option<f64> {
    let mut last = (0usize, 0.0f64);
    for &(answers, acc, _, _) in curve {
        if acc >= target {
            if acc == last.1 {
                return Some(answers as f64);
            }
            let share = (target - last.1) / (acc - last.1);
            return Some(last.0 as f64 + share * (answers - last.0) as f64);
        }
        last = (answers, acc);
    }
    None
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let data = dataset();
    println!("dataset: {} polar sentences", data.len());
    model_speed(&data);
    let tasks: usize = std::env::var("TESSERA_MODEL_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let default = crowd_run(&data, tasks, QueueOrder::Default).await;
    let uncertain = crowd_run(&data, tasks, QueueOrder::Uncertainty).await;
    println!("\n## A crowd of 9 through the server, {tasks} tasks, 3 answers each");
    println!(
        "answers | today's order: labels, model, trained on | uncertainty: labels, model, trained on"
    );
    for (d, u) in default.iter().zip(&uncertain) {
        let m = |x: Option<f64>| x.map_or("-".to_owned(), |v| format!("{v:.3}"));
        println!(
            "{:>6} | {:.3} {} {:>5} | {:.3} {} {:>5}",
            d.0,
            d.1,
            m(d.2),
            d.3,
            u.1,
            m(u.2),
            u.3
        );
    }
    println!("\n## The model's accuracy on tasks without a consensus, by labels trained on");
    for want in [100u64, 500, 2000] {
        if let Some(d) = default.iter().find(|p| p.3 >= want) {
            println!("≥{want}: trained on {}, accuracy {:?}", d.3, d.2);
        }
    }
    if let Some(&(budget, target, _, _)) = default.last() {
        match answers_to_reach(&uncertain, target) {
            Some(needed) => println!(
                "\ntoday's order reaches label accuracy {target:.3} after {budget} answers; \
                 uncertainty-first reaches it after {needed:.0}: {:.2}× fewer answers",
                budget as f64 / needed
            ),
            None => println!(
                "\nuncertainty-first never reached today's final label accuracy {target:.3}"
            ),
        }
    }
}
