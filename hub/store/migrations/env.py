"""Alembic's entry point for the hub's migrations, run on the connection `hub.store.alembic_config`
puts in Alembic's configuration (docs/design.md, "The hub's store")."""

from alembic import context

from hub.store.models import Base

connection = context.config.attributes["connection"]
# Autogenerate writes SQLite's changes in batch mode, which copies a table and drops the original: never for a table
# others reference, whose rows the drop would delete (foreign keys are on); see docs/design.md, "The hub's store".
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
