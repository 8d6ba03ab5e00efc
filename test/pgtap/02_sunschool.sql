-- The Sunschool example: its schema, generator and scope registration give
-- the scope that DESIGN.md and sunschool-schema.md describe.
\set QUIET 1
\o /dev/null
BEGIN;
CREATE EXTENSION IF NOT EXISTS sunsync;
CREATE SCHEMA sunschool_test;
SET search_path = sunschool_test, public;
\ir ../../examples/sunschool/schema.sql
\ir ../../examples/sunschool/generate.sql
SELECT * FROM sunschool_generate(families => 3, learners_per_family => 2,
                                 lessons_per_learner => 5, big_family_lessons => 40);
\ir ../../examples/sunschool/scope.sql
\o
SELECT plan(14);

SELECT results_eq(
    $$SELECT table_name::text, path, position FROM sunsync_tables ORDER BY position$$,
    $$VALUES ('users', 'root, owner: COALESCE(parent_id, id)', 1),
             ('achievements', 'achievements.learner_id -> users.id (as text)', 2),
             ('concept_mastery', 'concept_mastery.learner_id -> users.id', 3),
             ('learner_points', 'learner_points.learner_id -> users.id', 4),
             ('learner_profiles', 'learner_profiles.user_id -> users.id', 5),
             ('learning_goals', 'learning_goals.learner_id -> users.id', 6),
             ('lessons', 'lessons.learner_id -> users.id', 7),
             ('points_ledger', 'points_ledger.learner_id -> users.id', 8),
             ('quiz_answers', 'quiz_answers.learner_id -> users.id', 9),
             ('rewards', 'rewards.parent_id -> users.id', 10),
             ('reward_goal_savings', 'reward_goal_savings.learner_id -> users.id', 11),
             ('reward_redemptions', 'reward_redemptions.learner_id -> users.id', 12)$$,
    'every tenant table is registered with its path, parents first');

SELECT is((SELECT exclude_columns FROM sunsync.tables WHERE table_name = 'users'::regclass),
          '{password}'::text[], 'users.password never leaves the source');
SELECT ok(NOT EXISTS (SELECT 1 FROM sunsync_tables WHERE table_name = 'lesson_templates'::regclass),
          'the shared lesson catalog is not tenant data');
SELECT is((SELECT via FROM sunsync.tables WHERE table_name = 'achievements'::regclass),
          'learner_id -> sunschool_test.users(id)', 'achievements reach users through a declared link');
SELECT throws_like($$SELECT sunsync_add_table('learning_goals', via => NULL)$$,
                   '%more than one path%', 'a two-path table needs via');

-- The generator is deterministic and sized by its arguments.
SELECT is((SELECT count(*) FROM users), 9::bigint, '3 families of a parent and 2 learners');
SELECT is((SELECT count(*) FROM lessons WHERE learner_id IN (2, 3)), 40::bigint,
          'the big family has big_family_lessons lessons');
SELECT is((SELECT count(*) FROM lessons), 60::bigint, 'other families have lessons_per_learner each');
SELECT is((SELECT md5(string_agg(id || ':' || coalesce(score::text, 'null'), ',' ORDER BY id))
             FROM lessons WHERE learner_id = 5),
          (SELECT md5(string_agg('lesson-5-' || n || ':' ||
                                 CASE WHEN n % 3 = 2 THEN (n % 101)::text
                                      WHEN n % 7 = 0 THEN '0' ELSE 'null' END, ','
                                 ORDER BY 'lesson-5-' || n))
             FROM generate_series(1, 5) n),
          'lesson ids and scores follow from the arguments alone');
SELECT ok(EXISTS (SELECT 1 FROM lessons WHERE score = 0), 'a score of 0 is present, not NULL');
SELECT ok(EXISTS (SELECT 1 FROM lessons WHERE completed_at = 'infinity'), 'infinity is present');
SELECT results_eq($$SELECT coalesce(parent_id, id), count(*) FROM users GROUP BY 1 ORDER BY 1$$,
                  $$VALUES (1, 3::bigint), (4, 3::bigint), (7, 3::bigint)$$,
                  'owner_expr gives each family three users');

-- A configuration for a family (loopback allowed here by a superuser).
SET sunsync.allow_private_targets = on;
SELECT isnt(sunsync_create_config(1, 'postgresql://family1:Sup3rS3cret@127.0.0.1:5999/family1'),
            NULL, 'a config for family 1');
SELECT is((SELECT target_url FROM sunsync_configs WHERE owner = '1'),
          'postgresql://family1:***@127.0.0.1:5999/family1', 'its URL is shown masked');

SELECT * FROM finish();
COMMIT;
