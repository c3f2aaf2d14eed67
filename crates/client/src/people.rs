//! The requester's People screen: who works on a project and when they last did,
//! invitations (a token shown once), revocation, membership and lifting a suspension.
//! Online, straight to the server; nothing about people is kept on the device.

use std::collections::BTreeMap;

use tessera_api::desktop::{InviteView, PersonView};
use tessera_api::{AnnotatorSkill, ProjectRole};

use crate::session::{Session, SessionError};

type Result<T> = std::result::Result<T, SessionError>;

fn project_role(role: &str) -> Result<ProjectRole> {
    ProjectRole::parse(role).ok_or_else(|| {
        SessionError::Invalid(format!(
            "unknown role {role:?}: annotator, reviewer or requester"
        ))
    })
}

impl Session {
    /// The project's members, then anyone else who answered here: role, token state and last
    /// use, answers, last answer and suspension.
    pub async fn project_people(&self, project_id: i64) -> Result<Vec<PersonView>> {
        let api = self.requester_api()?;
        let (members, tokens, annotators) = tokio::try_join!(
            api.members(project_id),
            api.tokens(),
            api.annotators(project_id),
        )?;
        let tokens: BTreeMap<i64, _> = tokens.into_iter().map(|t| (t.user_id, t)).collect();
        let mut skills: BTreeMap<i64, _> = annotators
            .into_iter()
            .map(|a| (a.annotator_id, a))
            .collect();
        let person =
            |user_id: i64, name: String, role: Option<String>, skill: Option<AnnotatorSkill>| {
                let token = tokens.get(&user_id);
                PersonView {
                    user_id,
                    name,
                    role,
                    invited: token.is_some_and(|t| t.invited),
                    revoked: token.is_some_and(|t| t.revoked_at.is_some()),
                    last_used_at: token.and_then(|t| t.last_used_at).map(|t| t.to_rfc3339()),
                    last_answer_at: skill
                        .as_ref()
                        .and_then(|s| s.last_answer_at)
                        .map(|t| t.to_rfc3339()),
                    answers: skill.as_ref().map_or(0, |s| s.answers),
                    suspended: skill.is_some_and(|s| s.suspended),
                }
            };
        let mut people: Vec<PersonView> = members
            .into_iter()
            .map(|m| {
                let skill = skills.remove(&m.user_id);
                person(m.user_id, m.name, Some(m.role.as_str().to_owned()), skill)
            })
            .collect();
        // Who answered without being a member (an open project) or was removed since.
        people.extend(
            skills
                .into_values()
                .map(|s| person(s.annotator_id, s.annotator.clone(), None, Some(s))),
        );
        Ok(people)
    }

    /// Invites a new person into the project as `role` (annotator or reviewer): their
    /// token, to be handed over once.
    pub async fn invite_person(
        &self,
        project_id: i64,
        name: &str,
        role: &str,
    ) -> Result<InviteView> {
        let invited = self
            .requester_api()?
            .invite(project_id, name.trim(), project_role(role)?)
            .await?;
        Ok(InviteView {
            user_id: invited.user_id,
            name: invited.name,
            role: invited.role.as_str().to_owned(),
            token: invited.token,
        })
    }

    /// Gives an existing person (`user_id`, named `name`) `role` in the project.
    pub async fn add_member(
        &self,
        project_id: i64,
        user_id: i64,
        name: &str,
        role: &str,
    ) -> Result<()> {
        let name = Some(name.trim()).filter(|n| !n.is_empty());
        self.requester_api()?
            .add_member(project_id, user_id, name, project_role(role)?)
            .await?;
        Ok(())
    }

    /// Takes a person out of the project; their answers stay.
    pub async fn remove_member(&self, project_id: i64, user_id: i64) -> Result<()> {
        self.requester_api()?
            .remove_member(project_id, user_id)
            .await?;
        Ok(())
    }

    /// Revokes a person's token: it signs no one in from then on.
    pub async fn revoke_person(&self, user_id: i64) -> Result<()> {
        self.requester_api()?.revoke_token(user_id).await?;
        Ok(())
    }

    /// Lifts an annotator's suspension; their gold record so far is set aside.
    pub async fn unsuspend(&self, project_id: i64, user_id: i64) -> Result<()> {
        self.requester_api()?.unsuspend(project_id, user_id).await?;
        Ok(())
    }
}
