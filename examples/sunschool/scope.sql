-- What Sunschool replicates to a parent's database: everything the family owns.
-- A parent owns its own users row and every learner whose parent_id is its id.
SELECT sunsync_set_root('users', 'coalesce(parent_id, id)');

-- The password hash never leaves the source.
SELECT sunsync_add_table('users', exclude_columns => '{password}');

SELECT sunsync_add_table('learner_profiles');
SELECT sunsync_add_table('lessons');          -- template_id points outside the tenant
SELECT sunsync_add_table('points_ledger');
SELECT sunsync_add_table('learner_points');
SELECT sunsync_add_table('rewards');
SELECT sunsync_add_table('concept_mastery');

-- achievements.learner_id holds a users id as text, with no foreign key.
SELECT sunsync_add_table('achievements', via => 'learner_id -> users(id)');

-- Tables with two paths to users: the learner's is the one that counts.
SELECT sunsync_add_table('reward_redemptions', via => 'reward_redemptions_learner_id_fkey');
SELECT sunsync_add_table('learning_goals', via => 'learning_goals_learner_id_fkey');
SELECT sunsync_add_table('reward_goal_savings', via => 'reward_goal_savings_learner_id_fkey');
SELECT sunsync_add_table('quiz_answers', via => 'quiz_answers_learner_id_fkey');
