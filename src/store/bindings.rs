//! Bindings: which campus card (学工号) belongs to which WeChat user. One card ↔ one openid,
//! enforced in one transaction over both directions.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{StoreError, from_json, to_json};
use crate::domain::{OpenId, StudentId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    pub student_id: StudentId,
    pub name: String,
    pub bound_at: i64,
    /// Masked phone on file when bound (display only).
    pub phone_masked: String,
    /// The card system's ledger account (账号), the key of every card operation.
    #[serde(default)]
    pub account: String,
    /// Card number as the card system displays it.
    #[serde(default)]
    pub card_no: String,
    /// A phone the user verified for notifications (绑定手机); full number, never logged.
    #[serde(default)]
    pub phone: Option<crate::domain::Phone>,
}

#[derive(Clone)]
pub struct BindingsRepo {
    by_openid: sled::Tree,
    by_student: sled::Tree,
}

impl BindingsRepo {
    pub(super) fn new(by_openid: sled::Tree, by_student: sled::Tree) -> Self {
        Self {
            by_openid,
            by_student,
        }
    }

    pub fn get(&self, openid: &OpenId) -> Result<Option<Binding>, StoreError> {
        match self.by_openid.get(openid.as_str())? {
            Some(b) => Ok(Some(from_json("bindings", &b)?)),
            None => Ok(None),
        }
    }

    pub fn owner_of(&self, student: &StudentId) -> Result<Option<OpenId>, StoreError> {
        match self.by_student.get(student.as_str())? {
            Some(b) => Ok(OpenId::parse(&String::from_utf8_lossy(&b)).ok()),
            None => Ok(None),
        }
    }

    /// Bind atomically; refuses if the card or the user is already bound elsewhere.
    /// The caller flushes the store before telling the user it worked.
    pub fn bind(&self, openid: &OpenId, binding: &Binding) -> Result<(), StoreError> {
        let value = to_json(binding);
        let result = (&self.by_openid, &self.by_student).transaction(|(by_openid, by_student)| {
            if let Some(owner) = by_student.get(binding.student_id.as_str())?
                && owner.as_ref() != openid.as_str().as_bytes()
            {
                return Err(ConflictableTransactionError::Abort(StoreError::CardTaken));
            }
            if by_openid.get(openid.as_str())?.is_some() {
                return Err(ConflictableTransactionError::Abort(
                    StoreError::AlreadyBound,
                ));
            }
            by_openid.insert(openid.as_str(), value.clone())?;
            by_student.insert(binding.student_id.as_str(), openid.as_str())?;
            Ok(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Remove the user's binding, returning it if there was one.
    pub fn unbind(&self, openid: &OpenId) -> Result<Option<Binding>, StoreError> {
        let Some(existing) = self.get(openid)? else {
            return Ok(None);
        };
        let result = (&self.by_openid, &self.by_student).transaction(|(by_openid, by_student)| {
            by_openid.remove(openid.as_str())?;
            by_student.remove(existing.student_id.as_str())?;
            Ok::<(), ConflictableTransactionError<StoreError>>(())
        });
        match result {
            Ok(()) => Ok(Some(existing)),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Replace the record of an existing binding (e.g. a verified phone was added).
    pub fn update(&self, openid: &OpenId, binding: &Binding) -> Result<(), StoreError> {
        self.by_openid.insert(openid.as_str(), to_json(binding))?;
        Ok(())
    }

    /// Every bound user, in openid order (the audience of a news push).
    pub fn openids(&self) -> Result<Vec<OpenId>, StoreError> {
        let mut out = Vec::with_capacity(self.by_openid.len());
        for key in self.by_openid.iter().keys() {
            if let Ok(openid) = OpenId::parse(&String::from_utf8_lossy(&key?)) {
                out.push(openid);
            }
        }
        Ok(out)
    }

    pub fn count(&self) -> usize {
        self.by_openid.len()
    }

    /// Every binding (for batch jobs such as the cohort distributions); a corrupt record is
    /// an error, not skipped.
    pub fn all(&self) -> Result<Vec<(OpenId, Binding)>, StoreError> {
        let mut out = Vec::with_capacity(self.by_openid.len());
        for entry in self.by_openid.iter() {
            let (k, v) = entry?;
            let Ok(openid) = OpenId::parse(&String::from_utf8_lossy(&k)) else {
                continue;
            };
            out.push((openid, from_json("bindings", &v)?));
        }
        Ok(out)
    }
}
