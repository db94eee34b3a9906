use sea_orm::entity::prelude::*;

/// "Every token of this user issued before the instant of the invalidation is void"
/// (logout-all, ban, delete, single_session). Tokens carry whole seconds (`iat`): those of
/// an earlier second are void, those of `invalidated_at`'s own second are void unless their
/// `tid` is in `kept_tids` (issued after the invalidation, in the same second). Kept until
/// every token issued before it has expired.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_invalidation")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub invalidated_at: i64,
    pub expires_at: i64,
    /// Comma-separated token ids.
    pub kept_tids: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
