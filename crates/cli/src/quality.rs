//! Requester commands about quality: each annotator's record, lifting a suspension, and
//! re-fitting a project's consensus.

use anyhow::Result;
use clap::Subcommand;

use crate::Remote;

#[derive(Subcommand)]
pub enum AnnotatorCommand {
    /// List a project's annotators: user id, name, answers, gold right/answered, the accuracy
    /// bound suspension goes by, suspended or not, agreement with the consensus, flags, last
    /// answer (`--json` adds each one's confusion matrix against the consensus).
    List {
        /// The project's id (`tessera project list` shows it).
        project: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Lift an annotator's suspension from a project: their gold record so far is set aside,
    /// and their answers count again from the next re-fit.
    Unsuspend { project: i64, user_id: i64 },
}

pub async fn annotator(command: AnnotatorCommand, remote: &Remote) -> Result<()> {
    let client = remote.client()?;
    match command {
        AnnotatorCommand::List { project, json } => {
            let skills = client.annotators(project).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&skills)?);
                return Ok(());
            }
            for s in skills {
                let bound = s
                    .gold_accuracy_upper
                    .map_or_else(|| "-".to_owned(), |u| format!("≤{:.0}%", u * 100.0));
                let state = if s.suspended { "suspended" } else { "active" };
                let agreement = s.agreement.map_or_else(
                    || "-".to_owned(),
                    |a| format!("agrees {:.0}% of {}", a * 100.0, s.agreement_answers),
                );
                let last = s.last_answer_at.map_or_else(
                    || "-".to_owned(),
                    |t| t.format("%Y-%m-%d %H:%M").to_string(),
                );
                println!(
                    "{}\t{}\t{} answers\tgold {}/{}\t{bound}\t{state}\t{agreement}\t{}\tlast {last}",
                    s.annotator_id,
                    s.annotator,
                    s.answers,
                    s.gold_correct,
                    s.gold_answers,
                    if s.flags.is_empty() {
                        "-".to_owned()
                    } else {
                        s.flags.join(",")
                    },
                );
            }
        }
        AnnotatorCommand::Unsuspend { project, user_id } => {
            let skill = client.unsuspend(project, user_id).await?;
            println!(
                "lifted the suspension of {} (user {}) from project {project}: only gold answered from now on counts towards another",
                skill.annotator, skill.annotator_id
            );
        }
    }
    Ok(())
}

/// Re-fits the project's consensus now and says what it did.
pub async fn refit(project: i64, remote: &Remote) -> Result<()> {
    let done = remote.client()?.refit(project).await?;
    println!(
        "re-fitted {} tasks of project {project} with {} in {:.2} s",
        done.tasks, done.method, done.seconds
    );
    Ok(())
}
