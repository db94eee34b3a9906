//! Link and unlink (link-unlink.md): one path each over the login kinds, including the
//! last-identifier guard, which the store applies in the same statement as the change.

use uuid::Uuid;

use super::login_kind::{Credential, LoginKind};
use super::validate::{parse_email_link, CustomId, DeviceId, Email};
use super::Accounts;
use crate::error::{ApiResult, ErrorKind, Failure};
use crate::store::{unique_violation, Identifier, UnlinkOutcome};

fn unlinked(outcome: UnlinkOutcome) -> ApiResult<()> {
    match outcome {
        UnlinkOutcome::Unlinked => Ok(()),
        UnlinkOutcome::Refused => Err(ErrorKind::LastIdentifier.into()),
    }
}

impl Accounts {
    /// Adds the credential's identifier to the caller's account. `sync` imports the friends of
    /// the kinds that can.
    pub async fn link(&self, user_id: Uuid, credential: &Credential<'_>, sync: bool) -> ApiResult<()> {
        let kind = credential.kind;
        let proof = &credential.proof;
        match kind {
            LoginKind::Device => self.link_device(user_id, proof.text()).await,
            LoginKind::Custom => {
                let custom = CustomId::parse_for_link(proof.text())?.into_inner();
                self.set_identifier(user_id, Identifier::Custom(custom), None, kind).await
            }
            LoginKind::Email => {
                let (email, password) = proof.email();
                let (email, password) = parse_email_link(email, password)?;
                let hash = self.hash_password(password, Failure::Linking(kind)).await?;
                self.set_identifier(user_id, Identifier::Email(email.into_inner()), Some(hash), kind).await
            }
            _ => self.link_social(user_id, kind, proof, sync).await,
        }
    }

    /// Devices live in their own table, where a device may move between no accounts.
    async fn link_device(&self, user_id: Uuid, id: &str) -> ApiResult<()> {
        let device = DeviceId::parse(id)?.into_inner();
        let kind = LoginKind::Device;
        let owner = self
            .store
            .link_device(user_id, &device, self.clock.now())
            .await
            .map_err(|e| Failure::Linking(kind).because(e))?;
        match owner {
            None => Ok(()),
            Some(owner) if owner == user_id => Ok(()),
            Some(_) => Err(ErrorKind::IdentifierInUse(kind).into()),
        }
    }

    /// Writes a single-valued identifier; a value held by anyone else is a conflict. A caller
    /// whose account row is gone gets the conflict too, as Nakama answers.
    pub(super) async fn set_identifier(
        &self,
        user_id: Uuid,
        identifier: Identifier,
        password: Option<String>,
        kind: LoginKind,
    ) -> ApiResult<()> {
        match self.store.set_identifier(user_id, &identifier, password, self.clock.now()).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ErrorKind::IdentifierInUse(kind).into()),
            Err(e) if unique_violation(&e).is_some() => Err(ErrorKind::IdentifierInUse(kind).into()),
            Err(e) => Err(Failure::Linking(kind).because(e)),
        }
    }

    /// Removes the credential's identifier from the caller's account. An empty credential
    /// removes whatever the account holds of the kind; a given one only when it matches.
    pub async fn unlink(&self, user_id: Uuid, credential: &Credential<'_>) -> ApiResult<()> {
        let kind = credential.kind;
        let proof = &credential.proof;
        match kind {
            LoginKind::Device => {
                let device = DeviceId::parse_for_unlink(proof.text())?;
                let outcome = self
                    .store
                    .unlink_device(user_id, device.as_str(), self.clock.now())
                    .await
                    .map_err(|e| Failure::Unlinking(kind).because(e))?;
                unlinked(outcome)
            }
            LoginKind::Custom => {
                let expected = CustomId::parse_for_unlink(proof.text())?;
                self.unlink_column(user_id, kind, expected.as_ref().map(CustomId::as_str)).await
            }
            LoginKind::Email => {
                let expected = Email::parse_for_unlink(proof.email().0)?;
                self.unlink_column(user_id, kind, expected.as_ref().map(Email::as_str)).await
            }
            _ => self.unlink_social(user_id, kind, proof).await,
        }
    }

    /// Clears the kind's column, guarded by the last-identifier rule.
    pub(super) async fn unlink_column(&self, user_id: Uuid, kind: LoginKind, expected: Option<&str>) -> ApiResult<()> {
        let Some(column) = kind.column() else {
            return Err(Failure::Unlinking(kind).because("no identifier column"));
        };
        let outcome = self
            .store
            .unlink_column(user_id, column, expected, self.clock.now())
            .await
            .map_err(|e| Failure::Unlinking(kind).because(e))?;
        unlinked(outcome)
    }
}
