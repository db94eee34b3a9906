use sea_orm::entity::prelude::*;

/// A console token logged out before its expiry (by its `cki` claim).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "console_revoked_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub cki: Uuid,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
