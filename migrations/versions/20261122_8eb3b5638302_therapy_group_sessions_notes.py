"""Therapy: group sessions, notes (DAP/SOAP/BIRP/free) with addenda, late entries.

Why: counselors log individual and group sessions with their notes (issue 4). Notes are
clinical records: a signed note's content must never change, so besides the service rule a
trigger refuses any UPDATE of a signed note's content, and any UPDATE of an addendum, on both
databases. A group attendee's session row points at its group; only group rows may.

Revision ID: 8eb3b5638302
Revises: 4f69bb878b68
Create Date: 2026-11-22 03:24:41.648841

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8eb3b5638302'
down_revision = '4f69bb878b68'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('group_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=500), nullable=False),
    sa.Column('modality', sa.String(length=30), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('facilitator_id', sa.Integer(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("modality IN ('cbt', 'dbt', 'motivational_interviewing', 'contingency_management', 'twelve_step_facilitation', 'trauma_focused', 'other')", name=op.f('ck_group_sessions_known_modality')),
    sa.CheckConstraint('duration_minutes BETWEEN 1 AND 720', name=op.f('ck_group_sessions_duration_range')),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff.id'], name=op.f('fk_group_sessions_created_by_id_staff')),
    sa.ForeignKeyConstraint(['facilitator_id'], ['staff.id'], name=op.f('fk_group_sessions_facilitator_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_sessions'))
    )
    with op.batch_alter_table('group_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_group_sessions_facilitator_started', ['facilitator_id', 'started_at'], unique=False)

    op.create_table('notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('format', sa.String(length=4), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cosigned_by_id', sa.Integer(), nullable=True),
    sa.Column('cosigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('late_entry', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(status = 'draft') = (signed_at IS NULL)", name=op.f('ck_notes_signed_iff_not_draft')),
    sa.CheckConstraint("format IN ('DAP', 'SOAP', 'BIRP', 'free')", name=op.f('ck_notes_known_format')),
    sa.CheckConstraint("kind IN ('progress', 'medical', 'group', 'discharge', 'other')", name=op.f('ck_notes_known_kind')),
    sa.CheckConstraint("status IN ('draft', 'awaiting_cosign', 'signed')", name=op.f('ck_notes_known_status')),
    sa.CheckConstraint('(cosigned_at IS NULL) = (cosigned_by_id IS NULL)', name=op.f('ck_notes_cosign_complete')),
    sa.ForeignKeyConstraint(['author_id'], ['staff.id'], name=op.f('fk_notes_author_id_staff')),
    sa.ForeignKeyConstraint(['cosigned_by_id'], ['staff.id'], name=op.f('fk_notes_cosigned_by_id_staff')),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], name=op.f('fk_notes_episode_id_episodes')),
    sa.ForeignKeyConstraint(['session_id'], ['therapy_sessions.id'], name=op.f('fk_notes_session_id_therapy_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notes')),
    sa.UniqueConstraint('session_id', name=op.f('uq_notes_session_id'))
    )
    with op.batch_alter_table('notes', schema=None) as batch_op:
        batch_op.create_index('ix_notes_author_status', ['author_id', 'status'], unique=False)
        batch_op.create_index('ix_notes_episode_created', ['episode_id', 'created_at'], unique=False)
        batch_op.create_index('ix_notes_status_created', ['status', 'created_at'], unique=False)

    op.create_table('note_addenda',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('note_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['staff.id'], name=op.f('fk_note_addenda_author_id_staff')),
    sa.ForeignKeyConstraint(['note_id'], ['notes.id'], name=op.f('fk_note_addenda_note_id_notes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_note_addenda'))
    )
    with op.batch_alter_table('note_addenda', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_note_addenda_note_id'), ['note_id'], unique=False)

    with op.batch_alter_table('therapy_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_session_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('late_entry', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_therapy_sessions_group_session_id'), ['group_session_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_therapy_sessions_group_session_id_group_sessions'), 'group_sessions', ['group_session_id'], ['id'])
        batch_op.create_check_constraint(
            op.f('ck_therapy_sessions_group_has_group'), "(kind = 'group') = (group_session_id IS NOT NULL)"
        )

    _create_lock_triggers()


#: Columns of a note that are fixed once it is signed (status and co-signature may move on).
LOCKED = ('episode_id', 'session_id', 'kind', 'format', 'body', 'author_id', 'signed_at', 'late_entry')


def _create_lock_triggers():
    """Refuse changes to signed notes' content and to addenda, whoever writes to the database."""
    if op.get_bind().dialect.name == 'postgresql':
        changed = ' OR '.join(
            f'NEW.{c}::text IS DISTINCT FROM OLD.{c}::text' for c in LOCKED
        )
        op.execute(f"""
            CREATE FUNCTION casemgr_signed_note_lock() RETURNS trigger AS $$
            BEGIN
                IF OLD.signed_at IS NOT NULL AND ({changed}) THEN
                    RAISE EXCEPTION 'signed notes cannot change' USING ERRCODE = 'check_violation';
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql
        """)
        op.execute(
            'CREATE TRIGGER notes_signed_lock BEFORE UPDATE ON notes '
            'FOR EACH ROW EXECUTE FUNCTION casemgr_signed_note_lock()'
        )
        op.execute("""
            CREATE FUNCTION casemgr_addendum_lock() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'addenda cannot change' USING ERRCODE = 'check_violation';
            END $$ LANGUAGE plpgsql
        """)
        op.execute(
            'CREATE TRIGGER note_addenda_lock BEFORE UPDATE ON note_addenda '
            'FOR EACH ROW EXECUTE FUNCTION casemgr_addendum_lock()'
        )
        return
    changed = ' OR '.join(f'NEW.{c} IS NOT OLD.{c}' for c in LOCKED)
    op.execute(f"""
        CREATE TRIGGER notes_signed_lock BEFORE UPDATE ON notes
        WHEN OLD.signed_at IS NOT NULL AND ({changed})
        BEGIN SELECT RAISE(ABORT, 'signed notes cannot change'); END
    """)
    op.execute("""
        CREATE TRIGGER note_addenda_lock BEFORE UPDATE ON note_addenda
        BEGIN SELECT RAISE(ABORT, 'addenda cannot change'); END
    """)


def _drop_lock_triggers():
    """Remove the triggers (and PostgreSQL's trigger functions)."""
    op.execute('DROP TRIGGER IF EXISTS note_addenda_lock ON note_addenda'
               if op.get_bind().dialect.name == 'postgresql'
               else 'DROP TRIGGER IF EXISTS note_addenda_lock')
    op.execute('DROP TRIGGER IF EXISTS notes_signed_lock ON notes'
               if op.get_bind().dialect.name == 'postgresql'
               else 'DROP TRIGGER IF EXISTS notes_signed_lock')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION IF EXISTS casemgr_addendum_lock()')
        op.execute('DROP FUNCTION IF EXISTS casemgr_signed_note_lock()')


def downgrade():
    _drop_lock_triggers()
    with op.batch_alter_table('therapy_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_therapy_sessions_group_has_group'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_therapy_sessions_group_session_id_group_sessions'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_therapy_sessions_group_session_id'))
        batch_op.drop_column('late_entry')
        batch_op.drop_column('group_session_id')

    with op.batch_alter_table('note_addenda', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_note_addenda_note_id'))

    op.drop_table('note_addenda')
    with op.batch_alter_table('notes', schema=None) as batch_op:
        batch_op.drop_index('ix_notes_status_created')
        batch_op.drop_index('ix_notes_episode_created')
        batch_op.drop_index('ix_notes_author_status')

    op.drop_table('notes')
    with op.batch_alter_table('group_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_group_sessions_facilitator_started')

    op.drop_table('group_sessions')
