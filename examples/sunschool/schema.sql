-- The Sunschool reference schema (from shared/sunschool-schema.md).
CREATE TYPE user_role AS ENUM ('ADMIN', 'PARENT', 'LEARNER');
CREATE TYPE lesson_status AS ENUM ('QUEUED', 'ACTIVE', 'DONE');

CREATE TABLE users (
    id          serial PRIMARY KEY,
    email       varchar UNIQUE,
    username    text UNIQUE,
    name        text,
    role        user_role DEFAULT 'LEARNER',
    password    text,               -- a hash; must never leave the source
    parent_id   integer REFERENCES users(id) ON DELETE CASCADE,
    created_at  timestamp DEFAULT now()
);

CREATE TABLE learner_profiles (
    id                        text PRIMARY KEY,   -- a uuid string
    user_id                   integer NOT NULL REFERENCES users(id),
    grade_level               integer NOT NULL,
    graph                     json,
    subjects                  json DEFAULT '["Math","Science"]',
    subject_performance       json DEFAULT '{}',
    recommended_subjects      json DEFAULT '[]',
    struggling_areas          json DEFAULT '[]',
    parent_prompt_guidelines  text,
    content_restrictions      text,
    require_lesson_approval   boolean DEFAULT false,
    double_or_loss_enabled    boolean NOT NULL DEFAULT false,
    created_at                timestamp
);

-- A shared catalog, not tenant data.
CREATE TABLE lesson_templates (
    id            uuid PRIMARY KEY,
    content_hash  varchar(64),
    subject       text,
    topic         text,
    title         text,
    grade_level   integer,
    spec          jsonb
);

CREATE TABLE lessons (
    id             text PRIMARY KEY,
    learner_id     integer NOT NULL REFERENCES users(id),
    template_id    uuid REFERENCES lesson_templates(id) ON DELETE SET NULL,
    module_id      text,
    status         lesson_status NOT NULL DEFAULT 'QUEUED',
    subject        text,
    category       text,
    difficulty     text DEFAULT 'beginner',
    image_paths    json,
    spec           json,
    enhanced_spec  json,
    score          integer,            -- 0 is a real score
    created_at     timestamp,
    completed_at   timestamp
);

-- learner_id holds a users id as text, with no foreign key.
CREATE TABLE achievements (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    learner_id     varchar NOT NULL,
    type           text NOT NULL,
    payload        json,
    awarded_at     timestamp,
    token_reward   integer DEFAULT 0,
    is_repeatable  boolean DEFAULT false
);

CREATE TABLE points_ledger (
    id           uuid PRIMARY KEY,
    learner_id   integer NOT NULL REFERENCES users(id),
    amount       integer NOT NULL,    -- may be negative
    source_type  text NOT NULL,
    source_id    text,
    description  text NOT NULL,
    created_at   timestamp
);

CREATE TABLE learner_points (
    id               uuid PRIMARY KEY,
    learner_id       integer NOT NULL UNIQUE REFERENCES users(id),
    current_balance  integer NOT NULL DEFAULT 0,
    total_earned     integer NOT NULL DEFAULT 0,
    total_redeemed   integer NOT NULL DEFAULT 0,
    last_updated     timestamp,
    created_at       timestamp
);

CREATE TABLE rewards (
    id                   uuid PRIMARY KEY,
    parent_id            integer NOT NULL REFERENCES users(id),
    title                text NOT NULL,
    description          text,
    token_cost           integer NOT NULL CHECK (token_cost > 0),
    category             text DEFAULT 'GENERAL',
    is_active            boolean DEFAULT true,
    max_redemptions      integer,
    current_redemptions  integer DEFAULT 0,
    image_emoji          text DEFAULT '🎁',
    color                text,
    created_at           timestamp,
    updated_at           timestamp
);

CREATE TABLE reward_redemptions (
    id              uuid PRIMARY KEY,
    learner_id      integer NOT NULL REFERENCES users(id),
    reward_id       uuid NOT NULL REFERENCES rewards(id),
    tokens_spent    integer NOT NULL,
    status          text DEFAULT 'PENDING',
    requested_at    timestamp,
    completed_at    timestamp,
    approved_at     timestamptz,
    rejected_at     timestamptz,
    times_redeemed  integer NOT NULL DEFAULT 1,
    parent_notes    text,
    learner_notes   text
);

CREATE TABLE learning_goals (
    id             uuid PRIMARY KEY,
    learner_id     integer NOT NULL REFERENCES users(id),
    parent_id      integer NOT NULL REFERENCES users(id),
    title          text NOT NULL,
    target_type    text,
    target_value   integer,
    current_value  integer,
    is_completed   boolean,
    deadline       date,
    token_reward   integer,
    created_at     timestamp,
    completed_at   timestamp
);

CREATE TABLE reward_goal_savings (
    id            uuid PRIMARY KEY,
    learner_id    integer REFERENCES users(id),
    reward_id     uuid REFERENCES rewards(id),
    saved_points  integer,
    created_at    timestamptz,
    updated_at    timestamptz,
    UNIQUE (learner_id, reward_id)
);

CREATE TABLE quiz_answers (
    id              uuid PRIMARY KEY,
    learner_id      integer REFERENCES users(id),
    lesson_id       text REFERENCES lessons(id),
    question_index  integer,
    question_text   text,
    is_correct      boolean,
    concept_tags    text[],
    answered_at     timestamp
);

CREATE TABLE concept_mastery (
    id                   uuid PRIMARY KEY,
    learner_id           integer REFERENCES users(id),
    concept_name         text,
    subject              text,
    correct_count        integer,
    total_count          integer,
    mastery_level        integer,
    last_tested          timestamp,
    needs_reinforcement  boolean
);
