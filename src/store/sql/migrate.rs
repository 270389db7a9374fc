//! What `migrate` does to the columns of an existing session table: add the
//! owner column of the user index to a table of the first version, and
//! leave a table that is not a session table alone; and, for Postgres and
//! SQLite, the statements of `migrate` and the order they run in (MySQL,
//! which adds the owner index along with the column, has its own).

#[cfg(any(feature = "postgres-store", feature = "sqlite-store"))]
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

#[cfg(any(feature = "postgres-store", feature = "sqlite-store"))]
use super::Engine;

/// The columns of the first version of the session table.
const BASE_COLUMNS: [&str; 4] = ["key", "version", "expires_at", "data"];
/// The column added for the user index.
const OWNER_COLUMN: &str = "owner";

/// What `migrate` does to the columns of an existing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum Upgrade {
    /// Every column is there.
    Nothing,
    /// A table of the first version: add the owner column.
    AddOwner,
    /// Not a session table (other columns): leave it alone, and let the
    /// health check report it.
    Foreign,
}

/// What a table with these `columns` needs (names compared as the engines
/// do, ignoring ASCII case).
pub(in crate::store) fn upgrade<S: AsRef<str>>(columns: &[S]) -> Upgrade {
    let has = |name: &str| {
        columns
            .iter()
            .any(|c| c.as_ref().eq_ignore_ascii_case(name))
    };
    if !BASE_COLUMNS.iter().all(|c| has(c)) {
        Upgrade::Foreign
    } else if has(OWNER_COLUMN) {
        Upgrade::Nothing
    } else {
        Upgrade::AddOwner
    }
}

/// The statements of `migrate` in one engine's SQL (Postgres, SQLite).
#[cfg(any(feature = "postgres-store", feature = "sqlite-store"))]
pub(in crate::store) struct Migration {
    /// Creates the table if it does not exist.
    pub(in crate::store) create_table: String,
    /// The names of the columns of the table named by its parameter.
    pub(in crate::store) columns: &'static str,
    /// Creates the deadline index if it does not exist.
    pub(in crate::store) create_index: String,
    /// Adds the owner column.
    pub(in crate::store) add_owner: String,
    /// Creates the owner index if it does not exist.
    pub(in crate::store) create_owner_index: String,
}

#[cfg(any(feature = "postgres-store", feature = "sqlite-store"))]
impl Migration {
    /// Creates the table and its deadline and owner indexes where they are
    /// missing, and adds the owner column to a table of the first version,
    /// on `connection`; `table` is the table as [`Migration::columns`] takes
    /// it. The columns are read first, and the column is added only where it
    /// is missing: on Postgres even `ADD COLUMN IF NOT EXISTS` locks the table
    /// out of every query when the column exists. A table with other columns
    /// is not altered (its deadline index fails, and reports it).
    pub(in crate::store) async fn run<DB: Engine>(
        &self,
        connection: &mut DB::Connection,
        table: &str,
    ) -> Result<(), sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
        for<'q> &'q str: Encode<'q, DB> + Type<DB>,
        String: for<'r> Decode<'r, DB> + Type<DB>,
        usize: ColumnIndex<DB::Row>,
    {
        let execute = async |connection: &mut DB::Connection, statement: &str| {
            let query = sqlx::query(statement).persistent(false);
            query.execute(connection).await.map(drop)
        };
        execute(&mut *connection, &self.create_table).await?;
        let columns: Vec<String> = sqlx::query_scalar(self.columns)
            .bind(table)
            .fetch_all(&mut *connection)
            .await?;
        execute(&mut *connection, &self.create_index).await?;
        if upgrade(&columns) == Upgrade::AddOwner {
            match execute(&mut *connection, &self.add_owner).await {
                // Another process added it since we looked.
                Err(err) if DB::duplicate_column(&err) => {}
                done => done?,
            }
        }
        execute(connection, &self.create_owner_index).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrades_are_read_from_the_columns() {
        let first = ["key", "version", "expires_at", "data"];
        assert_eq!(upgrade(&first), Upgrade::AddOwner);
        assert_eq!(
            upgrade(&[&first[..], &["OWNER"]].concat()),
            Upgrade::Nothing
        );
        assert_eq!(upgrade(&["id", "payload"]), Upgrade::Foreign);
        assert_eq!(upgrade(&["key", "data", "owner"]), Upgrade::Foreign);
        assert_eq!(upgrade::<&str>(&[]), Upgrade::Foreign);
    }
}
