-- Deterministic Sunschool data: the same arguments give the same rows.
--   SELECT * FROM sunschool_generate(families => 20, learners_per_family => 3,
--                                    lessons_per_learner => 50,
--                                    big_family_lessons => 100000);
-- Family 1 is the "big family": its learners share big_family_lessons lessons.
-- Users of family f: the parent has id (f-1)*(learners+1)+1, its learners follow.
-- Values include what a copy must keep exactly: NULLs, a score of 0,
-- unicode, tabs, newlines, backslashes, json whitespace, arrays, infinity.
CREATE OR REPLACE FUNCTION sunschool_generate(families int, learners_per_family int,
                                              lessons_per_learner int,
                                              big_family_lessons int DEFAULT 0)
RETURNS TABLE (table_name text, rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
    per_family int := learners_per_family + 1;
    epoch timestamp := '2026-01-05 08:00:00';
BEGIN
    INSERT INTO lesson_templates (id, content_hash, subject, topic, title, grade_level, spec)
    SELECT md5('template' || t)::uuid, md5('content' || t),
           (ARRAY['Math', 'Science', 'Reading', 'History'])[1 + t % 4],
           'Topic ' || t, 'Template ' || t, 1 + t % 8,
           jsonb_build_object('steps', t % 5, 'tags', ARRAY['a', 'b'])
      FROM generate_series(1, 20) t;

    -- parents, then learners
    INSERT INTO users (id, email, username, name, role, password, parent_id, created_at)
    SELECT (f - 1) * per_family + 1, 'parent' || f || '@example.com', 'parent' || f,
           CASE WHEN f % 7 = 0 THEN 'Zoë Ñandú ' || f ELSE 'Parent ' || f END,
           'PARENT', '$2b$10$hash.of.parent.' || f, NULL, epoch + f * interval '1 minute'
      FROM generate_series(1, families) f;
    INSERT INTO users (id, email, username, name, role, password, parent_id, created_at)
    SELECT (f - 1) * per_family + 1 + l, NULLIF('learner' || f || '_' || l || '@example.com',
                                                'learner' || f || '_2@example.com'),
           'learner' || f || '_' || l, 'Learner ' || l || E' of\tfamily ' || f, 'LEARNER',
           '$2b$10$hash.of.learner.' || f || '.' || l, (f - 1) * per_family + 1,
           epoch + f * interval '1 minute' + l * interval '1 second'
      FROM generate_series(1, families) f, generate_series(1, learners_per_family) l;
    PERFORM setval(pg_get_serial_sequence('users', 'id'), families * per_family);

    CREATE TEMP TABLE learners ON COMMIT DROP AS
    SELECT u.id AS uid, u.parent_id AS pid, (u.parent_id - 1) / per_family + 1 AS family,
           row_number() OVER (PARTITION BY u.parent_id ORDER BY u.id) AS nth
      FROM users u WHERE u.parent_id IS NOT NULL;

    INSERT INTO learner_profiles (id, user_id, grade_level, graph, subjects, subject_performance,
                                  recommended_subjects, struggling_areas, parent_prompt_guidelines,
                                  content_restrictions, require_lesson_approval,
                                  double_or_loss_enabled, created_at)
    SELECT md5('profile' || uid)::uuid::text, uid, 1 + uid % 8,
           CASE WHEN uid % 3 = 0 THEN NULL ELSE ('{ "nodes" : [ ' || uid || ' ],  "edges":[] }')::json END,
           '["Math","Science"]', '{"Math": {"score": 0.5}}', '[]', '[ "fractions" ]',
           E'Be kind.\nUse short sentences; avoid \\slang\\.', NULL, uid % 2 = 0, false,
           epoch + uid * interval '1 hour'
      FROM learners;

    INSERT INTO lessons (id, learner_id, template_id, module_id, status, subject, category,
                         difficulty, image_paths, spec, enhanced_spec, score, created_at, completed_at)
    SELECT 'lesson-' || uid || '-' || n, uid,
           CASE WHEN n % 4 = 0 THEN NULL ELSE md5('template' || (1 + n % 20))::uuid END,
           'module-' || n % 10, (ARRAY['QUEUED', 'ACTIVE', 'DONE'])[1 + n % 3]::lesson_status,
           (ARRAY['Math', 'Science', 'Reading', 'History'])[1 + n % 4], 'core', 'beginner',
           CASE WHEN n % 5 = 0 THEN '[]'::json ELSE ('["img/' || n || '.png"]')::json END,
           ('{"title": "Lesson ' || n || E'", "body": "Line one\\nLine two\\t✓ ünïcødé"}')::json,
           CASE WHEN n % 2 = 0 THEN NULL ELSE '{"enhanced" :true}'::json END,
           CASE WHEN n % 3 = 2 THEN n % 101 WHEN n % 7 = 0 THEN 0 ELSE NULL END,
           epoch + n * interval '1 minute',
           CASE WHEN n % 3 = 2 THEN epoch + n * interval '1 minute' + interval '20 minutes'
                WHEN n = 1 THEN 'infinity'::timestamp END
      FROM learners,
           generate_series(1, CASE WHEN family = 1 AND big_family_lessons > 0
                                   THEN (big_family_lessons + learners_per_family - 1) / learners_per_family
                                   ELSE lessons_per_learner END) n;

    INSERT INTO achievements (id, learner_id, type, payload, awarded_at, token_reward, is_repeatable)
    SELECT md5('achievement' || uid || '-' || n)::uuid, uid::text,
           (ARRAY['FIRST_LESSON', 'STREAK', 'PERFECT_SCORE'])[n],
           json_build_object('n', n, 'note', E'back\\slash and "quotes"'),
           epoch + n * interval '1 day', n * 5, n = 2
      FROM learners, generate_series(1, 3) n;

    INSERT INTO points_ledger (id, learner_id, amount, source_type, source_id, description, created_at)
    SELECT md5('points' || uid || '-' || n)::uuid, uid, CASE WHEN n = 5 THEN -15 ELSE 10 * n END,
           CASE WHEN n = 5 THEN 'REDEMPTION' ELSE 'LESSON' END, 'lesson-' || uid || '-' || n,
           'Points for lesson ' || n, epoch + n * interval '1 hour'
      FROM learners, generate_series(1, 5) n;

    INSERT INTO learner_points (id, learner_id, current_balance, total_earned, total_redeemed,
                                last_updated, created_at)
    SELECT md5('balance' || uid)::uuid, uid, 85, 100, 15, epoch, epoch FROM learners;

    INSERT INTO rewards (id, parent_id, title, description, token_cost, category, is_active,
                         max_redemptions, current_redemptions, image_emoji, color, created_at, updated_at)
    SELECT md5('reward' || f || '-' || n)::uuid, (f - 1) * per_family + 1,
           (ARRAY['Ice cream', 'Movie night', 'Extra screen time'])[n],
           CASE WHEN n = 2 THEN NULL ELSE 'A treat' END, 10 * n, 'GENERAL', n <> 3,
           CASE WHEN n = 1 THEN 5 END, 0, (ARRAY['🍦', '🎬', '🎁'])[n], '#ff00' || n || n,
           epoch, epoch
      FROM generate_series(1, families) f, generate_series(1, 3) n;

    INSERT INTO reward_redemptions (id, learner_id, reward_id, tokens_spent, status, requested_at,
                                    completed_at, approved_at, rejected_at, times_redeemed,
                                    parent_notes, learner_notes)
    SELECT md5('redemption' || uid)::uuid, uid, md5('reward' || family || '-1')::uuid, 10,
           'APPROVED', epoch, epoch + interval '1 day', '2026-01-06 10:00:00+00', NULL, 1,
           'ok', E'please!\r\nthanks'
      FROM learners;

    INSERT INTO learning_goals (id, learner_id, parent_id, title, target_type, target_value,
                                current_value, is_completed, deadline, token_reward, created_at,
                                completed_at)
    SELECT md5('goal' || uid)::uuid, uid, pid, 'Finish 10 lessons', 'LESSONS', 10, nth::int,
           false, '2026-12-31', 50, epoch, NULL
      FROM learners;

    INSERT INTO reward_goal_savings (id, learner_id, reward_id, saved_points, created_at, updated_at)
    SELECT md5('saving' || uid)::uuid, uid, md5('reward' || family || '-2')::uuid, 7,
           '2026-01-05 08:00:00+00', 'infinity'
      FROM learners;

    INSERT INTO quiz_answers (id, learner_id, lesson_id, question_index, question_text, is_correct,
                              concept_tags, answered_at)
    SELECT md5('answer' || l.id)::uuid, l.learner_id, l.id, 0, 'What is 1/2 + 1/4?',
           l.score IS NOT NULL AND l.score > 50,
           CASE WHEN l.score IS NULL THEN NULL ELSE ARRAY['fractions', 'add "like" terms', NULL] END,
           l.created_at
      FROM lessons l WHERE right(l.id, 1) = '4';

    INSERT INTO concept_mastery (id, learner_id, concept_name, subject, correct_count, total_count,
                                 mastery_level, last_tested, needs_reinforcement)
    SELECT md5('mastery' || uid || '-' || n)::uuid, uid, 'concept ' || n, 'Math', n, 2 * n, 50,
           epoch, n = 1
      FROM learners, generate_series(1, 2) n;

    RETURN QUERY
    SELECT 'users', count(*) FROM users UNION ALL
    SELECT 'lessons', count(*) FROM lessons UNION ALL
    SELECT 'quiz_answers', count(*) FROM quiz_answers UNION ALL
    SELECT 'achievements', count(*) FROM achievements;
END $$;
