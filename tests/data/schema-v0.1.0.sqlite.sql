-- The schema release 0.1.0 made with metadata.create_all (sqlite), generated from puzzles/models.py at
-- that release; tests/test_migrations.py upgrades a database made from it.  Never edit.

CREATE TABLE clues (
	id INTEGER NOT NULL,
	domain TEXT NOT NULL,
	text TEXT NOT NULL,
	text_key VARCHAR(320) NOT NULL,
	answer TEXT NOT NULL,
	initial VARCHAR(1) NOT NULL,
	tier INTEGER NOT NULL,
	source TEXT NOT NULL,
	relation TEXT DEFAULT '' NOT NULL,
	status VARCHAR(16) DEFAULT 'verified' NOT NULL,
	reject_reason TEXT,
	expected_tokens INTEGER NOT NULL,
	times_served INTEGER DEFAULT '0' NOT NULL,
	retired BOOLEAN DEFAULT 0 NOT NULL,
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
	CONSTRAINT pk_clues PRIMARY KEY (id),
	CONSTRAINT ck_clues_status CHECK (status IN ('verified', 'unverified', 'rejected')),
	CONSTRAINT ck_clues_reason_only_if_rejected CHECK (status = 'rejected' OR reject_reason IS NULL),
	CONSTRAINT uq_clues_text_key UNIQUE (text_key)
);

CREATE INDEX ix_clues_tier_initial ON clues (tier, initial);

CREATE TABLE words (
	id INTEGER NOT NULL,
	word VARCHAR(12) NOT NULL,
	length SMALLINT NOT NULL,
	CONSTRAINT pk_words PRIMARY KEY (id),
	CONSTRAINT uq_words_word UNIQUE (word)
);

CREATE TABLE policy_changes (
	id INTEGER NOT NULL,
	applied_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
	digest VARCHAR(32) NOT NULL,
	source TEXT NOT NULL,
	actor VARCHAR(200) NOT NULL,
	document TEXT NOT NULL,
	CONSTRAINT pk_policy_changes PRIMARY KEY (id)
);

CREATE TABLE api_keys (
	id INTEGER NOT NULL,
	name VARCHAR(200) NOT NULL,
	key_hash VARCHAR(64) NOT NULL,
	tier VARCHAR(100) NOT NULL,
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
	revoked BOOLEAN DEFAULT 0 NOT NULL,
	CONSTRAINT pk_api_keys PRIMARY KEY (id),
	CONSTRAINT uq_api_keys_name UNIQUE (name),
	CONSTRAINT uq_api_keys_key_hash UNIQUE (key_hash)
);

CREATE TABLE factory_jobs (
	id INTEGER NOT NULL,
	name VARCHAR(200) NOT NULL,
	kind VARCHAR(16) NOT NULL,
	params TEXT NOT NULL,
	status VARCHAR(16) DEFAULT 'running' NOT NULL,
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
	finished_at DATETIME,
	CONSTRAINT pk_factory_jobs PRIMARY KEY (id),
	CONSTRAINT ck_factory_jobs_kind CHECK (kind IN ('generate', 'verify', 'calibrate', 'import')),
	CONSTRAINT ck_factory_jobs_status CHECK (status IN ('running', 'done')),
	CONSTRAINT uq_factory_jobs_name UNIQUE (name)
);

CREATE TABLE factory_items (
	id INTEGER NOT NULL,
	job_id INTEGER NOT NULL,
	position INTEGER NOT NULL,
	target TEXT DEFAULT '{}' NOT NULL,
	status VARCHAR(16) DEFAULT 'pending' NOT NULL,
	reason TEXT,
	clue_id INTEGER,
	attempts INTEGER DEFAULT '0' NOT NULL,
	gen_prompt_tokens INTEGER DEFAULT '0' NOT NULL,
	gen_completion_tokens INTEGER DEFAULT '0' NOT NULL,
	solve_prompt_tokens INTEGER DEFAULT '0' NOT NULL,
	solve_completion_tokens INTEGER DEFAULT '0' NOT NULL,
	gen_model TEXT DEFAULT '' NOT NULL,
	solver_models TEXT DEFAULT '' NOT NULL,
	detail TEXT DEFAULT '{}' NOT NULL,
	updated_at DATETIME,
	CONSTRAINT pk_factory_items PRIMARY KEY (id),
	CONSTRAINT uq_factory_items_job_id_position UNIQUE (job_id, position),
	CONSTRAINT ck_factory_items_status CHECK (status IN ('pending', 'accepted', 'rejected')),
	CONSTRAINT fk_factory_items_job_id_factory_jobs FOREIGN KEY(job_id) REFERENCES factory_jobs (id) ON DELETE CASCADE,
	CONSTRAINT fk_factory_items_clue_id_clues FOREIGN KEY(clue_id) REFERENCES clues (id) ON DELETE SET NULL
);

CREATE INDEX ix_factory_items_job_id_status ON factory_items (job_id, status);

CREATE INDEX ix_factory_items_clue_id ON factory_items (clue_id);
