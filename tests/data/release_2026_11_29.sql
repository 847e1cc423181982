PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version VALUES('6bf14d50172d');
CREATE TABLE access_tokens (
	token_hash VARCHAR(64) NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	subject_id VARCHAR(40) NOT NULL, 
	partner_id VARCHAR(40), 
	scopes JSON NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME, 
	revoked_at DATETIME, 
	CONSTRAINT pk_access_tokens PRIMARY KEY (token_hash)
);
INSERT INTO access_tokens VALUES('1d74424e1a9c62560b3d818ca1a3dbc84ef93a0ba630f79baffda09f388a27ce','client','cli_1m8twt83gcjyb8109zdv6','prt_1m8twt7ran89rygbkdrsd','["mms","sms","voice"]','demo app','2026-12-02 08:09:25.846270','2026-12-02 09:09:25.846270',NULL);
INSERT INTO access_tokens VALUES('e9ed7fd60199e0b4795520e9116d58da7de3190d8eb8b1aa6a60542bbfafa5ee','partner_user','pu_1m8twt7rdhtxt4bjr28f0','prt_1m8twt7ran89rygbkdrsd','[]','login','2026-12-02 08:09:26.098957','2026-12-02 20:09:26.098957',NULL);
INSERT INTO access_tokens VALUES('301ccaebf20978ce4677de25f881230e97b6fedbaba9bd80d9d06a1ad7f44112','client','cli_1m8twt83gcjyb8109zdv6','prt_1m8twt7ran89rygbkdrsd','["mms","sms","voice"]','demo app','2026-12-02 08:09:46.076056','2026-12-02 09:09:46.076056',NULL);
INSERT INTO access_tokens VALUES('50415a3b8321b9a353e92e7b9868d188b730052d94700c88a5a31c5bc98223d5','client','cli_1m8twt8b46g2djdbnc00v','prt_1m8twt7rrp2wgs3pjccbn','["mms","sms","voice"]','demo app','2026-12-02 08:09:46.614319','2026-12-02 09:09:46.614319',NULL);
INSERT INTO access_tokens VALUES('c5a83875679e1c815bcde88dd7a02494c30bd9ee7ffd3d5c3f5a13161e9a4514','operator','op_1m8twt6ad60ahg298e9fs',NULL,'[]','login','2026-12-02 08:09:47.068156','2026-12-02 20:09:47.068156',NULL);
INSERT INTO access_tokens VALUES('5ced4b1805e1a8a5edf13aba1c1296dade50b927f3ee8a72ca3e3c43eb04fab6','partner_user','pu_1m8twt7rdhtxt4bjr28f0','prt_1m8twt7ran89rygbkdrsd','[]','login','2026-12-02 08:09:47.279838','2026-12-02 20:09:47.279838',NULL);
CREATE TABLE accounts (
	id VARCHAR(40) NOT NULL, 
	owner_id VARCHAR(40) NOT NULL, 
	type VARCHAR(24) NOT NULL, 
	balance BIGINT NOT NULL, 
	version INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_accounts PRIMARY KEY (id), 
	CONSTRAINT uq_accounts_owner_id_type UNIQUE (owner_id, type)
);
INSERT INTO accounts VALUES('acc_1m8twt7rhbp3my8a4fjwp','platform','revenue',11760,24,'2026-12-02 08:09:24.734783');
INSERT INTO accounts VALUES('acc_1m8twt7rh884cqw96v40z','platform','cash',6000000,2,'2026-12-02 08:09:24.734783');
INSERT INTO accounts VALUES('acc_1m8twt7rhj1wsp8gv2dd1','platform','adjustments',0,0,'2026-12-02 08:09:24.734783');
INSERT INTO accounts VALUES('acc_1m8twt7rhrg44nke3gake','platform','suspense',0,0,'2026-12-02 08:09:24.734783');
INSERT INTO accounts VALUES('acc_1m8twt7rm5qdjjz2zqdzr','prt_1m8twt7ran89rygbkdrsd','prepaid:available',994000,3,'2026-12-02 08:09:24.734783');
INSERT INTO accounts VALUES('acc_1m8twt7rmmmwxy2qyygj1','prt_1m8twt7ran89rygbkdrsd','prepaid:reserved',0,14,'2026-12-02 08:09:24.734783');
INSERT INTO accounts VALUES('acc_1m8twt7rm0z3nnmcw8edp','prt_1m8twt7ran89rygbkdrsd','deposit',0,0,'2026-12-02 08:09:24.734783');
INSERT INTO accounts VALUES('acc_1m8twt7rmycqxpfh7tk28','prt_1m8twt7ran89rygbkdrsd','receivable',0,0,'2026-12-02 08:09:24.734783');
INSERT INTO accounts VALUES('acc_1m8twt7rvz538pmg61fd3','prt_1m8twt7rrp2wgs3pjccbn','prepaid:available',4994240,3,'2026-12-02 08:09:24.734783');
INSERT INTO accounts VALUES('acc_1m8twt7rwwxhgjgygz0c6','prt_1m8twt7rrp2wgs3pjccbn','prepaid:reserved',0,14,'2026-12-02 08:09:24.734783');
INSERT INTO accounts VALUES('acc_1m8twt7rwtbc49hzxbfxh','prt_1m8twt7rrp2wgs3pjccbn','deposit',0,0,'2026-12-02 08:09:24.734783');
INSERT INTO accounts VALUES('acc_1m8twt7rwyewpyrwq0g61','prt_1m8twt7rrp2wgs3pjccbn','receivable',0,0,'2026-12-02 08:09:24.734783');
CREATE TABLE audit_log (
	id VARCHAR(40) NOT NULL, 
	at DATETIME NOT NULL, 
	actor_type VARCHAR(20) NOT NULL, 
	actor_id VARCHAR(80) NOT NULL, 
	action VARCHAR(80) NOT NULL, 
	entity_type VARCHAR(40) NOT NULL, 
	entity_id VARCHAR(80) NOT NULL, 
	partner_id VARCHAR(40), 
	"before" JSON, 
	"after" JSON, 
	correlator VARCHAR(80), 
	note TEXT, 
	CONSTRAINT pk_audit_log PRIMARY KEY (id)
);
INSERT INTO audit_log VALUES('aud_1m8twt5q9yrhjznrq0fam','2026-12-02 08:09:22.907967','system','system','capability.created','capability','sms',NULL,'null','{"code":"sms","name_zh":"短信","name_en":"SMS","network_element":"smpp","operations":[{"name":"sendMessage","method":"POST","path":"/capabilities/sms/v1/messages"},{"name":"getMessage","method":"GET","path":"/capabilities/sms/v1/messages/{id}"}]}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt5qjkjhcmse7xey2','2026-12-02 08:09:22.907967','system','system','capability.created','capability','mms',NULL,'null','{"code":"mms","name_zh":"彩信","name_en":"MMS","network_element":"mms-sim","operations":[{"name":"sendMessage","method":"POST","path":"/capabilities/mms/v1/messages"},{"name":"getMessage","method":"GET","path":"/capabilities/mms/v1/messages/{id}"}]}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt5qn62edtm6ja11h','2026-12-02 08:09:22.907967','system','system','capability.created','capability','voice',NULL,'null','{"code":"voice","name_zh":"语音通知","name_en":"Voice notification","network_element":"voice-sim","operations":[{"name":"createNotification","method":"POST","path":"/capabilities/voice/v1/notifications"},{"name":"getNotification","method":"GET","path":"/capabilities/voice/v1/notifications/{id}"}]}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt5qxwq7tx5e67fnm','2026-12-02 08:09:22.907967','system','system','product.created','product','prd_1m8twt5qtebz4wrwp7rbh',NULL,'null','{"code":"sms-standard","capability_code":"sms","name_zh":"标准短信","name_en":"Standard SMS","description":"按条（分段）计费的短信下发 / SMS sending, charged per segment","unit":"segment","rate_limit_per_second":200}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt5rn90gcc71g4gg6','2026-12-02 08:09:22.907967','system','system','price_plan.created','price_plan','pp_1m8twt5r66n8g34s4he4s',NULL,'null','{"product":"sms-standard","version":1,"valid_from":"2025-12-31T16:00:00+00:00","tiers":{"local.certified":[[0,"0.0470"],[100000,"0.0420"],[1000000,"0.0370"]],"local.close":[[0,"0.0450"],[100000,"0.0400"],[1000000,"0.0350"]],"local.list":[[0,"0.0490"],[100000,"0.0440"],[1000000,"0.0390"]],"local.strategic":[[0,"0.0430"],[100000,"0.0380"],[1000000,"0.0330"]],"national.certified":[[0,"0.0480"],[100000,"0.0430"],[1000000,"0.0380"]],"national.close":[[0,"0.0460"],[100000,"0.0410"],[1000000,"0.0360"]],"national.list":[[0,"0.0500"],[100000,"0.0450"],[1000000,"0.0400"]],"national.strategic":[[0,"0.0440"],[100000,"0.0390"],[1000000,"0.0340"]]}}',NULL,'demo price list v1');
INSERT INTO audit_log VALUES('aud_1m8twt5rsnk4wz5rbsacm','2026-12-02 08:09:22.907967','system','system','product.created','product','prd_1m8twt5rrvgqzqb0mfzd6',NULL,'null','{"code":"mms-standard","capability_code":"mms","name_zh":"标准彩信","name_en":"Standard MMS","description":"按条计费的彩信下发 / MMS sending, charged per message","unit":"message","rate_limit_per_second":50}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt5s17e99a3jrnc2p','2026-12-02 08:09:22.907967','system','system','price_plan.created','price_plan','pp_1m8twt5ry1b3eecexxerq',NULL,'null','{"product":"mms-standard","version":1,"valid_from":"2025-12-31T16:00:00+00:00","tiers":{"national.certified":[[0,"0.2900"]],"national.close":[[0,"0.2800"]],"national.list":[[0,"0.3000"]],"national.strategic":[[0,"0.2700"]]}}',NULL,'demo price list v1');
INSERT INTO audit_log VALUES('aud_1m8twt5s48tb1ze727ppd','2026-12-02 08:09:22.907967','system','system','product.created','product','prd_1m8twt5s3h4gj5766r26n',NULL,'null','{"code":"voice-notify","capability_code":"voice","name_zh":"语音通知","name_en":"Voice notification","description":"按分钟计费的语音通知 / voice notification, charged per started minute","unit":"minute","rate_limit_per_second":20}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt5sf0x5sz08dp4zr','2026-12-02 08:09:22.907967','system','system','price_plan.created','price_plan','pp_1m8twt5sap81kytej3b8d',NULL,'null','{"product":"voice-notify","version":1,"valid_from":"2025-12-31T16:00:00+00:00","tiers":{"national.certified":[[0,"0.1450"]],"national.close":[[0,"0.1400"]],"national.list":[[0,"0.1500"]],"national.strategic":[[0,"0.1350"]]}}',NULL,'demo price list v1');
INSERT INTO audit_log VALUES('aud_1m8twt6ag19wwzed1456r','2026-12-02 08:09:22.907967','system','system','operator.created','operator','op_1m8twt6ad60ahg298e9fs',NULL,'null','{"username":"admin","roles":["admin"],"lead_id":null}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt6trttdtaww27aq4','2026-12-02 08:09:22.907967','system','system','operator.created','operator','op_1m8twt6tps5vnqx3kexd8',NULL,'null','{"username":"lead","roles":["service_agent","service_lead"],"lead_id":null}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt76y1kca240ztz1s','2026-12-02 08:09:22.907967','system','system','operator.created','operator','op_1m8twt76x48d2x0nsehj5',NULL,'null','{"username":"agent","roles":["service_agent"],"lead_id":null}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt7frxke4epfn0kjg','2026-12-02 08:09:22.907967','system','system','operator.created','operator','op_1m8twt7fqqbdz1haz3yzf',NULL,'null','{"username":"billing","roles":["billing_clerk"],"lead_id":null}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt7rnwq8w351zdn50','2026-12-02 08:09:24.734783','partner_user','pu_1m8twt7rdhtxt4bjr28f0','partner.registered','partner','prt_1m8twt7ran89rygbkdrsd','prt_1m8twt7ran89rygbkdrsd','null','{"kind":"AP","name":"演示应用科技有限公司","billing_mode":"prepaid","status":"active","scope":"national","tier":null,"contact_email":"ap-demo@example.com","branches":[]}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt7rp3yk6gfvtmkrf','2026-12-02 08:09:24.734783','partner_user','pu_1m8twt7rdhtxt4bjr28f0','partner_user.created','partner_user','pu_1m8twt7rdhtxt4bjr28f0','prt_1m8twt7ran89rygbkdrsd','null','{"username":"ap-demo","role":"admin"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt7rxvwvarja9bgay','2026-12-02 08:09:24.734783','system','system','partner.created','partner','prt_1m8twt7rrp2wgs3pjccbn','prt_1m8twt7rrp2wgs3pjccbn','null','{"kind":"SI","name":"示例系统集成有限公司","billing_mode":"prepaid","status":"active","scope":"national","tier":"certified","product_kind":"standard","industry":null}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt80gbmq0877zvfg7','2026-12-02 08:09:24.734783','system','system','partner_user.created','partner_user','pu_1m8twt80evjexm79v3eax','prt_1m8twt7rrp2wgs3pjccbn','null','{"username":"si-demo","role":"admin"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt8107z66b4nzcm3a','2026-12-02 08:09:25.268136','system','system','order.acknowledged','product_order','ord_1m8twt80xdkjk8vrf8t4p','prt_1m8twt7ran89rygbkdrsd','null','{"state":"acknowledged","active":false,"product_id":"prd_1m8twt5qtebz4wrwp7rbh","product":"sms-standard"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt812vekj6aek3tyc','2026-12-02 08:09:25.268136','system','system','order.completed','product_order','ord_1m8twt80xdkjk8vrf8t4p','prt_1m8twt7ran89rygbkdrsd','{"state":"acknowledged","active":false,"product_id":"prd_1m8twt5qtebz4wrwp7rbh"}','{"state":"completed","active":true,"product_id":"prd_1m8twt5qtebz4wrwp7rbh"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt8180w3md18h6y39','2026-12-02 08:09:25.268136','system','system','order.acknowledged','product_order','ord_1m8twt8179katv10f9gde','prt_1m8twt7ran89rygbkdrsd','null','{"state":"acknowledged","active":false,"product_id":"prd_1m8twt5rrvgqzqb0mfzd6","product":"mms-standard"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt81a3ban9fdjsyj9','2026-12-02 08:09:25.268136','system','system','order.completed','product_order','ord_1m8twt8179katv10f9gde','prt_1m8twt7ran89rygbkdrsd','{"state":"acknowledged","active":false,"product_id":"prd_1m8twt5rrvgqzqb0mfzd6"}','{"state":"completed","active":true,"product_id":"prd_1m8twt5rrvgqzqb0mfzd6"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt81fkqj2xhacz52x','2026-12-02 08:09:25.268136','system','system','order.acknowledged','product_order','ord_1m8twt81eeq2td5jjxpcm','prt_1m8twt7ran89rygbkdrsd','null','{"state":"acknowledged","active":false,"product_id":"prd_1m8twt5s3h4gj5766r26n","product":"voice-notify"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt81gdvyzcrvj2k0x','2026-12-02 08:09:25.268136','system','system','order.completed','product_order','ord_1m8twt81eeq2td5jjxpcm','prt_1m8twt7ran89rygbkdrsd','{"state":"acknowledged","active":false,"product_id":"prd_1m8twt5s3h4gj5766r26n"}','{"state":"completed","active":true,"product_id":"prd_1m8twt5s3h4gj5766r26n"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt81nc72n91pwcv02','2026-12-02 08:09:25.268136','system','system','order.acknowledged','product_order','ord_1m8twt81mw2tzzpwnreny','prt_1m8twt7rrp2wgs3pjccbn','null','{"state":"acknowledged","active":false,"product_id":"prd_1m8twt5qtebz4wrwp7rbh","product":"sms-standard"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt81pfhrbmv3b1h9s','2026-12-02 08:09:25.268136','system','system','order.completed','product_order','ord_1m8twt81mw2tzzpwnreny','prt_1m8twt7rrp2wgs3pjccbn','{"state":"acknowledged","active":false,"product_id":"prd_1m8twt5qtebz4wrwp7rbh"}','{"state":"completed","active":true,"product_id":"prd_1m8twt5qtebz4wrwp7rbh"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt81tbc2he0nntcz0','2026-12-02 08:09:25.268136','system','system','order.acknowledged','product_order','ord_1m8twt81t5vpxdn2mqfnw','prt_1m8twt7rrp2wgs3pjccbn','null','{"state":"acknowledged","active":false,"product_id":"prd_1m8twt5rrvgqzqb0mfzd6","product":"mms-standard"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt81wekd4f7w5b4aa','2026-12-02 08:09:25.268136','system','system','order.completed','product_order','ord_1m8twt81t5vpxdn2mqfnw','prt_1m8twt7rrp2wgs3pjccbn','{"state":"acknowledged","active":false,"product_id":"prd_1m8twt5rrvgqzqb0mfzd6"}','{"state":"completed","active":true,"product_id":"prd_1m8twt5rrvgqzqb0mfzd6"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt8205q67m6ygrdqc','2026-12-02 08:09:25.268136','system','system','order.acknowledged','product_order','ord_1m8twt81z6jxnydkwnt0m','prt_1m8twt7rrp2wgs3pjccbn','null','{"state":"acknowledged","active":false,"product_id":"prd_1m8twt5s3h4gj5766r26n","product":"voice-notify"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt821z0zg248e5bh5','2026-12-02 08:09:25.268136','system','system','order.completed','product_order','ord_1m8twt81z6jxnydkwnt0m','prt_1m8twt7rrp2wgs3pjccbn','{"state":"acknowledged","active":false,"product_id":"prd_1m8twt5s3h4gj5766r26n"}','{"state":"completed","active":true,"product_id":"prd_1m8twt5s3h4gj5766r26n"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt82bpyg42qcechj2','2026-12-02 08:09:25.315217','system','system','payment.created','payment','pay_1m8twt827szc8pan2apxd','prt_1m8twt7ran89rygbkdrsd','null','{"transaction_id":"demo-topup-1","method":"sandbox","purpose":"top_up","amount":"100.00","state":"pending","bank_reference":""}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt82w1vj6936wkgdb','2026-12-02 08:09:25.315217','system','system','invoice.issued','invoice','inv_1m8twt82tmxw4yb40dahx','prt_1m8twt7ran89rygbkdrsd','null','{"number":"INV-202612-000001","amount":"100.00","payment_id":"pay_1m8twt827szc8pan2apxd","title":"演示应用科技有限公司"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt82xp3q0j9b1j5he','2026-12-02 08:09:25.315217','system','system','payment.confirmed','payment','pay_1m8twt827szc8pan2apxd','prt_1m8twt7ran89rygbkdrsd','{"transaction_id":"demo-topup-1","method":"sandbox","purpose":"top_up","amount":"100.00","state":"pending","bank_reference":""}','{"transaction_id":"demo-topup-1","method":"sandbox","purpose":"top_up","amount":"100.00","state":"confirmed","bank_reference":"","journal_entry_id":"je_1m8twt82g8n5qq9q3rsdf","invoice":"INV-202612-000001"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt8311fwv4cysmey6','2026-12-02 08:09:25.315217','system','system','payment.created','payment','pay_1m8twt830bak901fa61z4','prt_1m8twt7rrp2wgs3pjccbn','null','{"transaction_id":"demo-topup-1","method":"sandbox","purpose":"top_up","amount":"500.00","state":"pending","bank_reference":""}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt83a6syvbwdzz9f6','2026-12-02 08:09:25.315217','system','system','invoice.issued','invoice','inv_1m8twt839cenmvrcqjxz4','prt_1m8twt7rrp2wgs3pjccbn','null','{"number":"INV-202612-000002","amount":"500.00","payment_id":"pay_1m8twt830bak901fa61z4","title":"示例系统集成有限公司"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt83b1b7t696z3w09','2026-12-02 08:09:25.315217','system','system','payment.confirmed','payment','pay_1m8twt830bak901fa61z4','prt_1m8twt7rrp2wgs3pjccbn','{"transaction_id":"demo-topup-1","method":"sandbox","purpose":"top_up","amount":"500.00","state":"pending","bank_reference":""}','{"transaction_id":"demo-topup-1","method":"sandbox","purpose":"top_up","amount":"500.00","state":"confirmed","bank_reference":"","journal_entry_id":"je_1m8twt835v4yh2btzt9pd","invoice":"INV-202612-000002"}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt8b1ehkks409nz64','2026-12-02 08:09:25.356719','system','system','client.created','api_client','cli_1m8twt83gcjyb8109zdv6','prt_1m8twt7ran89rygbkdrsd','null','{"name":"demo app","scopes":["mms","sms","voice"]}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt8jmxtfhffxeyd41','2026-12-02 08:09:25.356719','system','system','client.created','api_client','cli_1m8twt8b46g2djdbnc00v','prt_1m8twt7rrp2wgs3pjccbn','null','{"name":"demo app","scopes":["mms","sms","voice"]}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt8tekyexq1njbdd3','2026-12-02 08:09:25.846270','api_client','cli_1m8twt83gcjyb8109zdv6','client.token_issued','api_client','cli_1m8twt83gcjyb8109zdv6','prt_1m8twt7ran89rygbkdrsd','null','{"scopes":["mms","sms","voice"],"expires_in":3600}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twt933gj015t8zrfyx','2026-12-02 08:09:26.098957','partner_user','pu_1m8twt7rdhtxt4bjr28f0','auth.login','partner_user','pu_1m8twt7rdhtxt4bjr28f0','prt_1m8twt7ran89rygbkdrsd','null','null',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twtwhcsdp041gaatd2','2026-12-02 08:09:46.076056','api_client','cli_1m8twt83gcjyb8109zdv6','client.token_issued','api_client','cli_1m8twt83gcjyb8109zdv6','prt_1m8twt7ran89rygbkdrsd','null','{"scopes":["mms","sms","voice"],"expires_in":3600}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twtx1ftcn8nya6qrzk','2026-12-02 08:09:46.614319','api_client','cli_1m8twt8b46g2djdbnc00v','client.token_issued','api_client','cli_1m8twt8b46g2djdbnc00v','prt_1m8twt7rrp2wgs3pjccbn','null','{"scopes":["mms","sms","voice"],"expires_in":3600}',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twtxg88q4zrxb0wpag','2026-12-02 08:09:47.068156','operator','op_1m8twt6ad60ahg298e9fs','auth.login','operator','op_1m8twt6ad60ahg298e9fs',NULL,'null','null',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twtxq0q73k0qy6j17h','2026-12-02 08:09:47.279838','partner_user','pu_1m8twt7rdhtxt4bjr28f0','auth.login','partner_user','pu_1m8twt7rdhtxt4bjr28f0','prt_1m8twt7ran89rygbkdrsd','null','null',NULL,NULL);
INSERT INTO audit_log VALUES('aud_1m8twtxtw8c5cefyz4291','2026-12-02 08:09:47.592054','partner_user','pu_1m8twt7rdhtxt4bjr28f0','ticket.created','ticket','tkt_1m8twtxtk04smtdff1kqr','prt_1m8twt7ran89rygbkdrsd','null','{"state":"acknowledged","owner_id":"op_1m8twt76x48d2x0nsehj5","importance":"general","first_response_due":"2026-12-03T16:00:00+00:00","final_due":"2026-12-07T16:00:00+00:00","first_responded_at":null,"resolved_at":null,"paused_since":null,"resolution":"","related_order_id":null,"related_product_ref":null,"type":"consultation","subtype":"tariffs","channel":"online","assigned_by":"service_owner"}',NULL,NULL);
CREATE TABLE calendar_overrides (
	day DATE NOT NULL, 
	is_working BOOLEAN NOT NULL, 
	note VARCHAR(200) NOT NULL, 
	updated_by VARCHAR(80) NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_calendar_overrides PRIMARY KEY (day)
);
CREATE TABLE calendar_years (
	year INTEGER NOT NULL, 
	confirmed BOOLEAN NOT NULL, 
	note VARCHAR(200) NOT NULL, 
	updated_by VARCHAR(80) NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_calendar_years PRIMARY KEY (year)
);
CREATE TABLE capabilities (
	code VARCHAR(20) NOT NULL, 
	name_zh VARCHAR(100) NOT NULL, 
	name_en VARCHAR(100) NOT NULL, 
	operations JSON NOT NULL, 
	network_element VARCHAR(40) NOT NULL, 
	CONSTRAINT pk_capabilities PRIMARY KEY (code)
);
INSERT INTO capabilities VALUES('sms','短信','SMS','[{"name":"sendMessage","method":"POST","path":"/capabilities/sms/v1/messages"},{"name":"getMessage","method":"GET","path":"/capabilities/sms/v1/messages/{id}"}]','smpp');
INSERT INTO capabilities VALUES('mms','彩信','MMS','[{"name":"sendMessage","method":"POST","path":"/capabilities/mms/v1/messages"},{"name":"getMessage","method":"GET","path":"/capabilities/mms/v1/messages/{id}"}]','mms-sim');
INSERT INTO capabilities VALUES('voice','语音通知','Voice notification','[{"name":"createNotification","method":"POST","path":"/capabilities/voice/v1/notifications"},{"name":"getNotification","method":"GET","path":"/capabilities/voice/v1/notifications/{id}"}]','voice-sim');
CREATE TABLE delivery_receipts (
	network_id VARCHAR(80) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	error VARCHAR(10) NOT NULL, 
	received_at DATETIME NOT NULL, 
	CONSTRAINT pk_delivery_receipts PRIMARY KEY (network_id)
);
INSERT INTO delivery_receipts VALUES('c340cc77dd75000001','DELIVRD','000','2026-12-02 08:09:46.416212');
INSERT INTO delivery_receipts VALUES('d4df7baa19c5000002','DELIVRD','000','2026-12-02 08:09:46.455976');
INSERT INTO delivery_receipts VALUES('f0b3b9607ccc000003','DELIVRD','000','2026-12-02 08:09:46.478642');
INSERT INTO delivery_receipts VALUES('8c9e6d66bab3000004','DELIVRD','000','2026-12-02 08:09:46.498325');
INSERT INTO delivery_receipts VALUES('8fb189f2f173000005','DELIVRD','000','2026-12-02 08:09:46.516915');
INSERT INTO delivery_receipts VALUES('7a78458aa206000006','DELIVRD','000','2026-12-02 08:09:46.537832');
INSERT INTO delivery_receipts VALUES('d17530956f97000007','DELIVRD','000','2026-12-02 08:09:46.559271');
INSERT INTO delivery_receipts VALUES('ae20534d55bf000008','DELIVRD','000','2026-12-02 08:09:46.579288');
INSERT INTO delivery_receipts VALUES('6eef122092e4000009','DELIVRD','000','2026-12-02 08:09:46.597999');
INSERT INTO delivery_receipts VALUES('c99a6de8e06f00000b','DELIVRD','000','2026-12-02 08:09:46.652063');
INSERT INTO delivery_receipts VALUES('4e6d59c22be300000a','DELIVRD','000','2026-12-02 08:09:46.990248');
INSERT INTO delivery_receipts VALUES('59a9f109a59100000c','DELIVRD','000','2026-12-02 08:09:46.996891');
INSERT INTO delivery_receipts VALUES('381c7802ceed00000d','DELIVRD','000','2026-12-02 08:09:47.001620');
INSERT INTO delivery_receipts VALUES('445a80982f6c00000e','DELIVRD','000','2026-12-02 08:09:47.016405');
INSERT INTO delivery_receipts VALUES('83817b3eeab500000f','DELIVRD','000','2026-12-02 08:09:47.023579');
INSERT INTO delivery_receipts VALUES('ab811deb67ba000010','DELIVRD','000','2026-12-02 08:09:47.027897');
INSERT INTO delivery_receipts VALUES('4dadb08a280b000011','DELIVRD','000','2026-12-02 08:09:47.030982');
INSERT INTO delivery_receipts VALUES('2d3f623f90b0000012','DELIVRD','000','2026-12-02 08:09:47.033834');
INSERT INTO delivery_receipts VALUES('ce0bdd53c6b0000013','DELIVRD','000','2026-12-02 08:09:47.046866');
INSERT INTO delivery_receipts VALUES('a905fed4ff4a000014','DELIVRD','000','2026-12-02 08:09:47.053577');
INSERT INTO delivery_receipts VALUES('7dbf1588059e000016','DELIVRD','000','2026-12-02 08:09:47.057996');
INSERT INTO delivery_receipts VALUES('24081490c151000015','DELIVRD','000','2026-12-02 08:09:47.071828');
INSERT INTO delivery_receipts VALUES('a42d711b438a000017','DELIVRD','000','2026-12-02 08:09:47.582857');
INSERT INTO delivery_receipts VALUES('405eee8d967a000018','DELIVRD','000','2026-12-02 08:09:47.630693');
CREATE TABLE invoice_counters (
	month VARCHAR(6) NOT NULL, 
	last INTEGER NOT NULL, 
	CONSTRAINT pk_invoice_counters PRIMARY KEY (month)
);
INSERT INTO invoice_counters VALUES('202612',2);
CREATE TABLE job_runs (
	id VARCHAR(40) NOT NULL, 
	job VARCHAR(60) NOT NULL, 
	period VARCHAR(40) NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	result TEXT NOT NULL, 
	CONSTRAINT pk_job_runs PRIMARY KEY (id), 
	CONSTRAINT uq_job_runs_job_period UNIQUE (job, period)
);
INSERT INTO job_runs VALUES('job_1m8twt9wzyjftq05s8j1m','sla-breaches','2026-12-02T08:09','2026-12-02 08:09:27.195393','2026-12-02 08:09:27.215652','0 deadline(s) breached');
INSERT INTO job_runs VALUES('job_1m8twt9xk34n4eb1k3pyn','holiday-greetings','2026-12-02','2026-12-02 08:09:27.217773','2026-12-02 08:09:27.334452','0 greeting(s), 0 offer(s)');
CREATE TABLE journal_entries (
	id VARCHAR(40) NOT NULL, 
	kind VARCHAR(24) NOT NULL, 
	ref_type VARCHAR(40), 
	ref_id VARCHAR(80), 
	memo VARCHAR(300) NOT NULL, 
	reversal_of VARCHAR(40), 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_journal_entries PRIMARY KEY (id), 
	CONSTRAINT uq_journal_entries_reversal_of UNIQUE (reversal_of)
);
INSERT INTO journal_entries VALUES('je_1m8twt82g8n5qq9q3rsdf','top_up','payment','pay_1m8twt827szc8pan2apxd','top_up demo-topup-1 (sandbox)',NULL,'2026-12-02 08:09:25.315217');
INSERT INTO journal_entries VALUES('je_1m8twt835v4yh2btzt9pd','top_up','payment','pay_1m8twt830bak901fa61z4','top_up demo-topup-1 (sandbox)',NULL,'2026-12-02 08:09:25.315217');
INSERT INTO journal_entries VALUES('je_1m8twtwkgsskenfbxb03b','grant','grant','gr_1m8twtwkc6y9c04bdaw6p','grant to vm:11144:d63096',NULL,'2026-12-02 08:09:46.336938');
INSERT INTO journal_entries VALUES('je_1m8twtwm49qzt71ndsn3p','charge','cdr_batch','cb_1m8twtwm4zp73v82qex5k','1 CDR(s)',NULL,'2026-12-02 08:09:46.367633');
INSERT INTO journal_entries VALUES('je_1m8twtwn1018wa3238s0c','charge','cdr_batch','cb_1m8twtwn1tk2egxvtxk9a','1 CDR(s)',NULL,'2026-12-02 08:09:46.401311');
INSERT INTO journal_entries VALUES('je_1m8twtwnp709t12m5026c','charge','cdr_batch','cb_1m8twtwnpn9092p1r1dww','1 CDR(s)',NULL,'2026-12-02 08:09:46.421782');
INSERT INTO journal_entries VALUES('je_1m8twtwpap61zg4gmamah','charge','cdr_batch','cb_1m8twtwpamhfyx21svpw3','1 CDR(s)',NULL,'2026-12-02 08:09:46.442335');
INSERT INTO journal_entries VALUES('je_1m8twtwpy3r226j4gksd6','charge','cdr_batch','cb_1m8twtwpy35pqkmg3x1kp','1 CDR(s)',NULL,'2026-12-02 08:09:46.461557');
INSERT INTO journal_entries VALUES('je_1m8twtwqkknpegc527rhv','charge','cdr_batch','cb_1m8twtwqkbhe9nz19fssr','1 CDR(s)',NULL,'2026-12-02 08:09:46.482943');
INSERT INTO journal_entries VALUES('je_1m8twtwr7gs8a57ng2kep','charge','cdr_batch','cb_1m8twtwr75g4antqms7h5','1 CDR(s)',NULL,'2026-12-02 08:09:46.503479');
INSERT INTO journal_entries VALUES('je_1m8twtwrth621fbaxthbw','charge','cdr_batch','cb_1m8twtwrtkyrjyngrbcta','1 CDR(s)',NULL,'2026-12-02 08:09:46.522337');
INSERT INTO journal_entries VALUES('je_1m8twtwsgkkrxd09z55wp','charge','cdr_batch','cb_1m8twtwsfty3mmfg1s0fz','1 CDR(s)',NULL,'2026-12-02 08:09:46.543526');
INSERT INTO journal_entries VALUES('je_1m8twtwt5xwyven5r476a','charge','cdr_batch','cb_1m8twtwt53jeprxvtw67n','1 CDR(s)',NULL,'2026-12-02 08:09:46.564852');
INSERT INTO journal_entries VALUES('je_1m8twtwtry4j364f9yrc4','charge','cdr_batch','cb_1m8twtwtr3j8bz3m68s59','1 CDR(s)',NULL,'2026-12-02 08:09:46.583657');
INSERT INTO journal_entries VALUES('je_1m8twtwvcvjmvchfc09f3','charge','cdr_batch','cb_1m8twtwvcxp0nykjbfv3e','1 CDR(s)',NULL,'2026-12-02 08:09:46.603941');
INSERT INTO journal_entries VALUES('je_1m8twtx24fme4kwsbwh85','grant','grant','gr_1m8twtx239x6qy0ejjz59','grant to vm:11144:d63096',NULL,'2026-12-02 08:09:46.815848');
INSERT INTO journal_entries VALUES('je_1m8twtx2fhvzes00x9xzf','charge','cdr_batch','cb_1m8twtx2fhjyfqepvsag0','1 CDR(s)',NULL,'2026-12-02 08:09:46.828036');
INSERT INTO journal_entries VALUES('je_1m8twtx31vcc634c69bwd','charge','cdr_batch','cb_1m8twtx31f4zajxkv8nfs','1 CDR(s)',NULL,'2026-12-02 08:09:46.848581');
INSERT INTO journal_entries VALUES('je_1m8twtx3h8zepz9th61a1','charge','cdr_batch','cb_1m8twtx3h48n4kckr3krk','1 CDR(s)',NULL,'2026-12-02 08:09:46.865096');
INSERT INTO journal_entries VALUES('je_1m8twtx430g2m1zc41wqv','charge','cdr_batch','cb_1m8twtx43z0vw74dy4ben','1 CDR(s)',NULL,'2026-12-02 08:09:46.883092');
INSERT INTO journal_entries VALUES('je_1m8twtx4qmxm2pa07qwwr','charge','cdr_batch','cb_1m8twtx4qr14n638qfyeh','1 CDR(s)',NULL,'2026-12-02 08:09:46.903138');
INSERT INTO journal_entries VALUES('je_1m8twtx5bkg072g6yfyp5','charge','cdr_batch','cb_1m8twtx5bffy2pdqhqs7c','1 CDR(s)',NULL,'2026-12-02 08:09:46.923323');
INSERT INTO journal_entries VALUES('je_1m8twtx5x6qbx63nnegj3','charge','cdr_batch','cb_1m8twtx5xn56nq91dntmg','1 CDR(s)',NULL,'2026-12-02 08:09:46.941250');
INSERT INTO journal_entries VALUES('je_1m8twtx6gyfg4w6ex9tg9','charge','cdr_batch','cb_1m8twtx6gcjt1ywenb3q8','1 CDR(s)',NULL,'2026-12-02 08:09:46.959576');
INSERT INTO journal_entries VALUES('je_1m8twtx71ktc6nnvza7ne','charge','cdr_batch','cb_1m8twtx71ew2myddcdzqq','1 CDR(s)',NULL,'2026-12-02 08:09:46.977042');
INSERT INTO journal_entries VALUES('je_1m8twtx7q56jc0216f138','charge','cdr_batch','cb_1m8twtx7qrqww68ke5azh','1 CDR(s)',NULL,'2026-12-02 08:09:46.998624');
INSERT INTO journal_entries VALUES('je_1m8twtx8hfbyw51dtbge1','charge','cdr_batch','cb_1m8twtx8hc2s9eeswy1qw','1 CDR(s)',NULL,'2026-12-02 08:09:47.025134');
INSERT INTO journal_entries VALUES('je_1m8twtx9fyx2sh26m554w','charge','cdr_batch','cb_1m8twtx9fr8q32x69rnwd','1 CDR(s)',NULL,'2026-12-02 08:09:47.055135');
INSERT INTO journal_entries VALUES('je_1m8twv4nzh7wky2wvmpg4','grant_release','grant','gr_1m8twtwkc6y9c04bdaw6p','released by its worker',NULL,'2026-12-02 08:09:54.608436');
INSERT INTO journal_entries VALUES('je_1m8twv4pdhf6km6bqzs46','grant_release','grant','gr_1m8twtx239x6qy0ejjz59','released by its worker',NULL,'2026-12-02 08:09:54.628816');
CREATE TABLE notifications (
	id VARCHAR(40) NOT NULL, 
	created_at DATETIME NOT NULL, 
	recipient_type VARCHAR(20) NOT NULL, 
	recipient_id VARCHAR(80) NOT NULL, 
	kind VARCHAR(60) NOT NULL, 
	dedup_key VARCHAR(160), 
	subject VARCHAR(300) NOT NULL, 
	body TEXT NOT NULL, 
	sent_at DATETIME, 
	read_at DATETIME, 
	CONSTRAINT pk_notifications PRIMARY KEY (id), 
	CONSTRAINT uq_notifications_dedup_key UNIQUE (dedup_key)
);
INSERT INTO notifications VALUES('ntf_1m8twtxtxjap1j7f731aa','2026-12-02 08:09:47.592054','operator','op_1m8twt76x48d2x0nsehj5','ticket-assigned',NULL,'新工单 tkt_1m8twtxtk04smtdff1kqr: 资费咨询','演示应用科技有限公司 / consultation/tariffs; 首次响应截止 2026-12-03T16:00:00+00:00',NULL,NULL);
CREATE TABLE operators (
	id VARCHAR(40) NOT NULL, 
	username VARCHAR(80) NOT NULL, 
	display_name VARCHAR(100) NOT NULL, 
	email VARCHAR(200) NOT NULL, 
	password_hash VARCHAR(200) NOT NULL, 
	roles JSON NOT NULL, 
	lead_id VARCHAR(40), 
	active BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_operators PRIMARY KEY (id), 
	CONSTRAINT uq_operators_username UNIQUE (username)
);
INSERT INTO operators VALUES('op_1m8twt6ad60ahg298e9fs','admin','平台管理员 Admin','','$argon2id$v=19$m=65536,t=3,p=4$i7R9qakB3G/L7hyOJr2N3w$1XZC/8E3PAAoOIvuVwRS//lX4zL/TNCEJRBiq98ykH0','["admin"]',NULL,1,'2026-12-02 08:09:22.907967');
INSERT INTO operators VALUES('op_1m8twt6tps5vnqx3kexd8','lead','客服主管 Service lead','','$argon2id$v=19$m=65536,t=3,p=4$sg/j3czkysY4HmedFXMkUw$CktYfAOPVkmx/vj6XqZUe1Kxoy4tQ6++rN28mP8V/iY','["service_agent","service_lead"]',NULL,1,'2026-12-02 08:09:22.907967');
INSERT INTO operators VALUES('op_1m8twt76x48d2x0nsehj5','agent','客服专员 Service agent','','$argon2id$v=19$m=65536,t=3,p=4$lG+xzrdAvvxPyzB95wHVzg$kClcz661X+FeRsTO1rGFMWYlv+uFZlTWyK6ZKnHzyw0','["service_agent"]','op_1m8twt6tps5vnqx3kexd8',1,'2026-12-02 08:09:22.907967');
INSERT INTO operators VALUES('op_1m8twt7fqqbdz1haz3yzf','billing','账务 Billing clerk','','$argon2id$v=19$m=65536,t=3,p=4$tmATt9s41UpRL24LzP2W+g$AEjY048Wc83XbKSos/MXo51cSA4HmQKAwqzxsFSKC1s','["billing_clerk"]',NULL,1,'2026-12-02 08:09:22.907967');
CREATE TABLE partners (
	id VARCHAR(40) NOT NULL, 
	kind VARCHAR(24) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	billing_mode VARCHAR(24) NOT NULL, 
	status VARCHAR(24) NOT NULL, 
	scope VARCHAR(24) NOT NULL, 
	tier VARCHAR(24), 
	product_kind VARCHAR(24) NOT NULL, 
	industry VARCHAR(60), 
	contact_name VARCHAR(100) NOT NULL, 
	contact_email VARCHAR(200) NOT NULL, 
	contact_phone VARCHAR(40) NOT NULL, 
	credit_code VARCHAR(40), 
	registered_capital BIGINT, 
	service_owner_id VARCHAR(40), 
	branches JSON NOT NULL, 
	status_reason VARCHAR(300) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_partners PRIMARY KEY (id), 
	CONSTRAINT uq_partners_name UNIQUE (name)
);
INSERT INTO partners VALUES('prt_1m8twt7ran89rygbkdrsd','AP','演示应用科技有限公司','prepaid','active','national',NULL,'standard',NULL,'张三','ap-demo@example.com','+8613800138000',NULL,NULL,'op_1m8twt76x48d2x0nsehj5','[]','self-registered (R-ADMIT-06)','2026-12-02 08:09:24.734783','2026-12-02 08:09:24.734783');
INSERT INTO partners VALUES('prt_1m8twt7rrp2wgs3pjccbn','SI','示例系统集成有限公司','prepaid','active','national','certified','standard',NULL,'李四','si-demo@example.com','+8613900139000',NULL,50000000000,'op_1m8twt76x48d2x0nsehj5','[]','activated at creation','2026-12-02 08:09:24.734783','2026-12-02 08:09:24.734783');
CREATE TABLE sla_policies (
	id VARCHAR(40) NOT NULL, 
	version INTEGER NOT NULL, 
	type VARCHAR(24) NOT NULL, 
	subtype VARCHAR(24) NOT NULL, 
	importance VARCHAR(24) NOT NULL, 
	first_response_amount INTEGER NOT NULL, 
	first_response_unit VARCHAR(24) NOT NULL, 
	final_amount INTEGER NOT NULL, 
	final_unit VARCHAR(24) NOT NULL, 
	note VARCHAR(300) NOT NULL, 
	created_by VARCHAR(80) NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_sla_policies PRIMARY KEY (id), 
	CONSTRAINT uq_sla_policies_version_type_subtype_importance UNIQUE (version, type, subtype, importance)
);
CREATE TABLE api_clients (
	id VARCHAR(40) NOT NULL, 
	partner_id VARCHAR(40) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	secret_hash VARCHAR(200) NOT NULL, 
	scopes JSON NOT NULL, 
	active BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	CONSTRAINT pk_api_clients PRIMARY KEY (id), 
	CONSTRAINT fk_api_clients_partner_id_partners FOREIGN KEY(partner_id) REFERENCES partners (id)
);
INSERT INTO api_clients VALUES('cli_1m8twt83gcjyb8109zdv6','prt_1m8twt7ran89rygbkdrsd','demo app','$argon2id$v=19$m=65536,t=3,p=4$wsdyfeNCAj5pLSsjHBAkLA$SaTpetT40RMnwAQdEMMyeP+0p8hojoWjhNni0G9krZo','["mms","sms","voice"]',1,'2026-12-02 08:09:25.356719',NULL);
INSERT INTO api_clients VALUES('cli_1m8twt8b46g2djdbnc00v','prt_1m8twt7rrp2wgs3pjccbn','demo app','$argon2id$v=19$m=65536,t=3,p=4$lO0NiERfHb4VWg9Vo1inAA$BWSID+xtilER9PoN3XswjurnC73o3LN/dnqujh0crdk','["mms","sms","voice"]',1,'2026-12-02 08:09:25.356719',NULL);
CREATE TABLE grants (
	id VARCHAR(40) NOT NULL, 
	partner_id VARCHAR(40) NOT NULL, 
	worker_id VARCHAR(80) NOT NULL, 
	granted BIGINT NOT NULL, 
	consumed BIGINT NOT NULL, 
	released BIGINT NOT NULL, 
	state VARCHAR(24) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	closed_at DATETIME, 
	CONSTRAINT pk_grants PRIMARY KEY (id), 
	CONSTRAINT fk_grants_partner_id_partners FOREIGN KEY(partner_id) REFERENCES partners (id)
);
INSERT INTO grants VALUES('gr_1m8twtwkc6y9c04bdaw6p','prt_1m8twt7ran89rygbkdrsd','vm:11144:d63096',10000,6000,4000,'closed','2026-12-02 08:09:46.336938','2026-12-02 08:10:16.336938','2026-12-02 08:09:54.608436');
INSERT INTO grants VALUES('gr_1m8twtx239x6qy0ejjz59','prt_1m8twt7rrp2wgs3pjccbn','vm:11144:d63096',9600,5760,3840,'closed','2026-12-02 08:09:46.815848','2026-12-02 08:10:16.815848','2026-12-02 08:09:54.628816');
CREATE TABLE journal_lines (
	id INTEGER NOT NULL, 
	entry_id VARCHAR(40) NOT NULL, 
	account_id VARCHAR(40) NOT NULL, 
	amount BIGINT NOT NULL, 
	CONSTRAINT pk_journal_lines PRIMARY KEY (id), 
	CONSTRAINT fk_journal_lines_account_id_accounts FOREIGN KEY(account_id) REFERENCES accounts (id), 
	CONSTRAINT fk_journal_lines_entry_id_journal_entries FOREIGN KEY(entry_id) REFERENCES journal_entries (id)
);
INSERT INTO journal_lines VALUES(1,'je_1m8twt82g8n5qq9q3rsdf','acc_1m8twt7rh884cqw96v40z',1000000);
INSERT INTO journal_lines VALUES(2,'je_1m8twt82g8n5qq9q3rsdf','acc_1m8twt7rm5qdjjz2zqdzr',-1000000);
INSERT INTO journal_lines VALUES(3,'je_1m8twt835v4yh2btzt9pd','acc_1m8twt7rh884cqw96v40z',5000000);
INSERT INTO journal_lines VALUES(4,'je_1m8twt835v4yh2btzt9pd','acc_1m8twt7rvz538pmg61fd3',-5000000);
INSERT INTO journal_lines VALUES(5,'je_1m8twtwkgsskenfbxb03b','acc_1m8twt7rm5qdjjz2zqdzr',10000);
INSERT INTO journal_lines VALUES(6,'je_1m8twtwkgsskenfbxb03b','acc_1m8twt7rmmmwxy2qyygj1',-10000);
INSERT INTO journal_lines VALUES(7,'je_1m8twtwm49qzt71ndsn3p','acc_1m8twt7rhbp3my8a4fjwp',-500);
INSERT INTO journal_lines VALUES(8,'je_1m8twtwm49qzt71ndsn3p','acc_1m8twt7rmmmwxy2qyygj1',500);
INSERT INTO journal_lines VALUES(9,'je_1m8twtwn1018wa3238s0c','acc_1m8twt7rhbp3my8a4fjwp',-500);
INSERT INTO journal_lines VALUES(10,'je_1m8twtwn1018wa3238s0c','acc_1m8twt7rmmmwxy2qyygj1',500);
INSERT INTO journal_lines VALUES(11,'je_1m8twtwnp709t12m5026c','acc_1m8twt7rhbp3my8a4fjwp',-500);
INSERT INTO journal_lines VALUES(12,'je_1m8twtwnp709t12m5026c','acc_1m8twt7rmmmwxy2qyygj1',500);
INSERT INTO journal_lines VALUES(13,'je_1m8twtwpap61zg4gmamah','acc_1m8twt7rhbp3my8a4fjwp',-500);
INSERT INTO journal_lines VALUES(14,'je_1m8twtwpap61zg4gmamah','acc_1m8twt7rmmmwxy2qyygj1',500);
INSERT INTO journal_lines VALUES(15,'je_1m8twtwpy3r226j4gksd6','acc_1m8twt7rhbp3my8a4fjwp',-500);
INSERT INTO journal_lines VALUES(16,'je_1m8twtwpy3r226j4gksd6','acc_1m8twt7rmmmwxy2qyygj1',500);
INSERT INTO journal_lines VALUES(17,'je_1m8twtwqkknpegc527rhv','acc_1m8twt7rhbp3my8a4fjwp',-500);
INSERT INTO journal_lines VALUES(18,'je_1m8twtwqkknpegc527rhv','acc_1m8twt7rmmmwxy2qyygj1',500);
INSERT INTO journal_lines VALUES(19,'je_1m8twtwr7gs8a57ng2kep','acc_1m8twt7rhbp3my8a4fjwp',-500);
INSERT INTO journal_lines VALUES(20,'je_1m8twtwr7gs8a57ng2kep','acc_1m8twt7rmmmwxy2qyygj1',500);
INSERT INTO journal_lines VALUES(21,'je_1m8twtwrth621fbaxthbw','acc_1m8twt7rhbp3my8a4fjwp',-500);
INSERT INTO journal_lines VALUES(22,'je_1m8twtwrth621fbaxthbw','acc_1m8twt7rmmmwxy2qyygj1',500);
INSERT INTO journal_lines VALUES(23,'je_1m8twtwsgkkrxd09z55wp','acc_1m8twt7rhbp3my8a4fjwp',-500);
INSERT INTO journal_lines VALUES(24,'je_1m8twtwsgkkrxd09z55wp','acc_1m8twt7rmmmwxy2qyygj1',500);
INSERT INTO journal_lines VALUES(25,'je_1m8twtwt5xwyven5r476a','acc_1m8twt7rhbp3my8a4fjwp',-500);
INSERT INTO journal_lines VALUES(26,'je_1m8twtwt5xwyven5r476a','acc_1m8twt7rmmmwxy2qyygj1',500);
INSERT INTO journal_lines VALUES(27,'je_1m8twtwtry4j364f9yrc4','acc_1m8twt7rhbp3my8a4fjwp',-500);
INSERT INTO journal_lines VALUES(28,'je_1m8twtwtry4j364f9yrc4','acc_1m8twt7rmmmwxy2qyygj1',500);
INSERT INTO journal_lines VALUES(29,'je_1m8twtwvcvjmvchfc09f3','acc_1m8twt7rhbp3my8a4fjwp',-500);
INSERT INTO journal_lines VALUES(30,'je_1m8twtwvcvjmvchfc09f3','acc_1m8twt7rmmmwxy2qyygj1',500);
INSERT INTO journal_lines VALUES(31,'je_1m8twtx24fme4kwsbwh85','acc_1m8twt7rvz538pmg61fd3',9600);
INSERT INTO journal_lines VALUES(32,'je_1m8twtx24fme4kwsbwh85','acc_1m8twt7rwwxhgjgygz0c6',-9600);
INSERT INTO journal_lines VALUES(33,'je_1m8twtx2fhvzes00x9xzf','acc_1m8twt7rhbp3my8a4fjwp',-480);
INSERT INTO journal_lines VALUES(34,'je_1m8twtx2fhvzes00x9xzf','acc_1m8twt7rwwxhgjgygz0c6',480);
INSERT INTO journal_lines VALUES(35,'je_1m8twtx31vcc634c69bwd','acc_1m8twt7rhbp3my8a4fjwp',-480);
INSERT INTO journal_lines VALUES(36,'je_1m8twtx31vcc634c69bwd','acc_1m8twt7rwwxhgjgygz0c6',480);
INSERT INTO journal_lines VALUES(37,'je_1m8twtx3h8zepz9th61a1','acc_1m8twt7rhbp3my8a4fjwp',-480);
INSERT INTO journal_lines VALUES(38,'je_1m8twtx3h8zepz9th61a1','acc_1m8twt7rwwxhgjgygz0c6',480);
INSERT INTO journal_lines VALUES(39,'je_1m8twtx430g2m1zc41wqv','acc_1m8twt7rhbp3my8a4fjwp',-480);
INSERT INTO journal_lines VALUES(40,'je_1m8twtx430g2m1zc41wqv','acc_1m8twt7rwwxhgjgygz0c6',480);
INSERT INTO journal_lines VALUES(41,'je_1m8twtx4qmxm2pa07qwwr','acc_1m8twt7rhbp3my8a4fjwp',-480);
INSERT INTO journal_lines VALUES(42,'je_1m8twtx4qmxm2pa07qwwr','acc_1m8twt7rwwxhgjgygz0c6',480);
INSERT INTO journal_lines VALUES(43,'je_1m8twtx5bkg072g6yfyp5','acc_1m8twt7rhbp3my8a4fjwp',-480);
INSERT INTO journal_lines VALUES(44,'je_1m8twtx5bkg072g6yfyp5','acc_1m8twt7rwwxhgjgygz0c6',480);
INSERT INTO journal_lines VALUES(45,'je_1m8twtx5x6qbx63nnegj3','acc_1m8twt7rhbp3my8a4fjwp',-480);
INSERT INTO journal_lines VALUES(46,'je_1m8twtx5x6qbx63nnegj3','acc_1m8twt7rwwxhgjgygz0c6',480);
INSERT INTO journal_lines VALUES(47,'je_1m8twtx6gyfg4w6ex9tg9','acc_1m8twt7rhbp3my8a4fjwp',-480);
INSERT INTO journal_lines VALUES(48,'je_1m8twtx6gyfg4w6ex9tg9','acc_1m8twt7rwwxhgjgygz0c6',480);
INSERT INTO journal_lines VALUES(49,'je_1m8twtx71ktc6nnvza7ne','acc_1m8twt7rhbp3my8a4fjwp',-480);
INSERT INTO journal_lines VALUES(50,'je_1m8twtx71ktc6nnvza7ne','acc_1m8twt7rwwxhgjgygz0c6',480);
INSERT INTO journal_lines VALUES(51,'je_1m8twtx7q56jc0216f138','acc_1m8twt7rhbp3my8a4fjwp',-480);
INSERT INTO journal_lines VALUES(52,'je_1m8twtx7q56jc0216f138','acc_1m8twt7rwwxhgjgygz0c6',480);
INSERT INTO journal_lines VALUES(53,'je_1m8twtx8hfbyw51dtbge1','acc_1m8twt7rhbp3my8a4fjwp',-480);
INSERT INTO journal_lines VALUES(54,'je_1m8twtx8hfbyw51dtbge1','acc_1m8twt7rwwxhgjgygz0c6',480);
INSERT INTO journal_lines VALUES(55,'je_1m8twtx9fyx2sh26m554w','acc_1m8twt7rhbp3my8a4fjwp',-480);
INSERT INTO journal_lines VALUES(56,'je_1m8twtx9fyx2sh26m554w','acc_1m8twt7rwwxhgjgygz0c6',480);
INSERT INTO journal_lines VALUES(57,'je_1m8twv4nzh7wky2wvmpg4','acc_1m8twt7rmmmwxy2qyygj1',4000);
INSERT INTO journal_lines VALUES(58,'je_1m8twv4nzh7wky2wvmpg4','acc_1m8twt7rm5qdjjz2zqdzr',-4000);
INSERT INTO journal_lines VALUES(59,'je_1m8twv4pdhf6km6bqzs46','acc_1m8twt7rwwxhgjgygz0c6',3840);
INSERT INTO journal_lines VALUES(60,'je_1m8twv4pdhf6km6bqzs46','acc_1m8twt7rvz538pmg61fd3',-3840);
CREATE TABLE partner_users (
	id VARCHAR(40) NOT NULL, 
	partner_id VARCHAR(40) NOT NULL, 
	username VARCHAR(80) NOT NULL, 
	display_name VARCHAR(100) NOT NULL, 
	email VARCHAR(200) NOT NULL, 
	password_hash VARCHAR(200) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	active BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_partner_users PRIMARY KEY (id), 
	CONSTRAINT fk_partner_users_partner_id_partners FOREIGN KEY(partner_id) REFERENCES partners (id), 
	CONSTRAINT uq_partner_users_username UNIQUE (username)
);
INSERT INTO partner_users VALUES('pu_1m8twt7rdhtxt4bjr28f0','prt_1m8twt7ran89rygbkdrsd','ap-demo','张三','ap-demo@example.com','$argon2id$v=19$m=65536,t=3,p=4$9GTAk1aRc0GePRXoKmvO1g$6CNlXahaUi6H/zg1IbBYZpLshCWnsn/Af2uXwCbTjOk','admin',1,'2026-12-02 08:09:24.734783');
INSERT INTO partner_users VALUES('pu_1m8twt80evjexm79v3eax','prt_1m8twt7rrp2wgs3pjccbn','si-demo','李四','','$argon2id$v=19$m=65536,t=3,p=4$l9pdUMUat+fv/Cw6d28EHw$wcT7wRfKfcMwPkIdkJ7Q65IJ+tr6OoGUEChBdzMO0FU','admin',1,'2026-12-02 08:09:24.734783');
CREATE TABLE payments (
	id VARCHAR(40) NOT NULL, 
	partner_id VARCHAR(40) NOT NULL, 
	transaction_id VARCHAR(80) NOT NULL, 
	method VARCHAR(24) NOT NULL, 
	purpose VARCHAR(24) NOT NULL, 
	amount BIGINT NOT NULL, 
	state VARCHAR(24) NOT NULL, 
	bank_reference VARCHAR(80) NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR(80) NOT NULL, 
	confirmed_at DATETIME, 
	confirmed_by VARCHAR(80), 
	journal_entry_id VARCHAR(40), 
	reject_reason VARCHAR(300) NOT NULL, 
	CONSTRAINT pk_payments PRIMARY KEY (id), 
	CONSTRAINT fk_payments_partner_id_partners FOREIGN KEY(partner_id) REFERENCES partners (id), 
	CONSTRAINT uq_payments_partner_id_transaction_id UNIQUE (partner_id, transaction_id)
);
INSERT INTO payments VALUES('pay_1m8twt827szc8pan2apxd','prt_1m8twt7ran89rygbkdrsd','demo-topup-1','sandbox','top_up',1000000,'confirmed','','2026-12-02 08:09:25.315217','system','2026-12-02 08:09:25.315217','sandbox','je_1m8twt82g8n5qq9q3rsdf','');
INSERT INTO payments VALUES('pay_1m8twt830bak901fa61z4','prt_1m8twt7rrp2wgs3pjccbn','demo-topup-1','sandbox','top_up',5000000,'confirmed','','2026-12-02 08:09:25.315217','system','2026-12-02 08:09:25.315217','sandbox','je_1m8twt835v4yh2btzt9pd','');
CREATE TABLE products (
	id VARCHAR(40) NOT NULL, 
	code VARCHAR(40) NOT NULL, 
	capability_code VARCHAR(20) NOT NULL, 
	name_zh VARCHAR(100) NOT NULL, 
	name_en VARCHAR(100) NOT NULL, 
	description VARCHAR(1000) NOT NULL, 
	unit VARCHAR(20) NOT NULL, 
	audience VARCHAR(24) NOT NULL, 
	rate_limit_per_second INTEGER NOT NULL, 
	status VARCHAR(24) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_products PRIMARY KEY (id), 
	CONSTRAINT fk_products_capability_code_capabilities FOREIGN KEY(capability_code) REFERENCES capabilities (code), 
	CONSTRAINT uq_products_code UNIQUE (code)
);
INSERT INTO products VALUES('prd_1m8twt5qtebz4wrwp7rbh','sms-standard','sms','标准短信','Standard SMS','按条（分段）计费的短信下发 / SMS sending, charged per segment','segment','all',200,'active','2026-12-02 08:09:22.907967','2026-12-02 08:09:22.907967');
INSERT INTO products VALUES('prd_1m8twt5rrvgqzqb0mfzd6','mms-standard','mms','标准彩信','Standard MMS','按条计费的彩信下发 / MMS sending, charged per message','message','all',50,'active','2026-12-02 08:09:22.907967','2026-12-02 08:09:22.907967');
INSERT INTO products VALUES('prd_1m8twt5s3h4gj5766r26n','voice-notify','voice','语音通知','Voice notification','按分钟计费的语音通知 / voice notification, charged per started minute','minute','all',20,'active','2026-12-02 08:09:22.907967','2026-12-02 08:09:22.907967');
CREATE TABLE tickets (
	id VARCHAR(40) NOT NULL, 
	partner_id VARCHAR(40) NOT NULL, 
	type VARCHAR(24) NOT NULL, 
	subtype VARCHAR(24) NOT NULL, 
	importance VARCHAR(24) NOT NULL, 
	channel VARCHAR(24) NOT NULL, 
	subject VARCHAR(200) NOT NULL, 
	description TEXT NOT NULL, 
	state VARCHAR(24) NOT NULL, 
	owner_id VARCHAR(40), 
	created_by_type VARCHAR(20) NOT NULL, 
	created_by_id VARCHAR(80) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	received_at DATETIME NOT NULL, 
	policy_version INTEGER NOT NULL, 
	first_response_limit VARCHAR(30) NOT NULL, 
	final_limit VARCHAR(30) NOT NULL, 
	first_response_due DATETIME NOT NULL, 
	final_due DATETIME NOT NULL, 
	next_due_at DATETIME, 
	first_responded_at DATETIME, 
	resolved_at DATETIME, 
	closed_at DATETIME, 
	first_response_breached_at DATETIME, 
	final_breached_at DATETIME, 
	breached BOOLEAN NOT NULL, 
	paused_since DATETIME, 
	resolution TEXT NOT NULL, 
	related_statement_id VARCHAR(40), 
	related_order_id VARCHAR(40), 
	related_call_ids JSON NOT NULL, 
	related_month VARCHAR(7), 
	related_product_ref VARCHAR(40), 
	action_result TEXT NOT NULL, 
	reopened_count INTEGER NOT NULL, 
	CONSTRAINT pk_tickets PRIMARY KEY (id), 
	CONSTRAINT fk_tickets_partner_id_partners FOREIGN KEY(partner_id) REFERENCES partners (id)
);
INSERT INTO tickets VALUES('tkt_1m8twtxtk04smtdff1kqr','prt_1m8twt7ran89rygbkdrsd','consultation','tariffs','general','online','资费咨询','','acknowledged','op_1m8twt76x48d2x0nsehj5','partner_user','pu_1m8twt7rdhtxt4bjr28f0','2026-12-02 08:09:47.592054','2026-12-02 08:09:47.592054','2026-12-02 08:09:47.592054',0,'1 working_days','3 working_days','2026-12-03 16:00:00.000000','2026-12-07 16:00:00.000000','2026-12-03 16:00:00.000000',NULL,NULL,NULL,NULL,NULL,0,NULL,'',NULL,NULL,'[]',NULL,NULL,'',0);
CREATE TABLE invoices (
	id VARCHAR(40) NOT NULL, 
	number VARCHAR(40) NOT NULL, 
	partner_id VARCHAR(40) NOT NULL, 
	payment_id VARCHAR(40), 
	amount BIGINT NOT NULL, 
	title VARCHAR(200) NOT NULL, 
	issued_at DATETIME NOT NULL, 
	CONSTRAINT pk_invoices PRIMARY KEY (id), 
	CONSTRAINT fk_invoices_partner_id_partners FOREIGN KEY(partner_id) REFERENCES partners (id), 
	CONSTRAINT fk_invoices_payment_id_payments FOREIGN KEY(payment_id) REFERENCES payments (id), 
	CONSTRAINT uq_invoices_number UNIQUE (number), 
	CONSTRAINT uq_invoices_payment_id UNIQUE (payment_id)
);
INSERT INTO invoices VALUES('inv_1m8twt82tmxw4yb40dahx','INV-202612-000001','prt_1m8twt7ran89rygbkdrsd','pay_1m8twt827szc8pan2apxd',1000000,'演示应用科技有限公司','2026-12-02 08:09:25.315217');
INSERT INTO invoices VALUES('inv_1m8twt839cenmvrcqjxz4','INV-202612-000002','prt_1m8twt7rrp2wgs3pjccbn','pay_1m8twt830bak901fa61z4',5000000,'示例系统集成有限公司','2026-12-02 08:09:25.315217');
CREATE TABLE price_plans (
	id VARCHAR(40) NOT NULL, 
	product_id VARCHAR(40) NOT NULL, 
	version INTEGER NOT NULL, 
	valid_from DATETIME NOT NULL, 
	valid_to DATETIME, 
	note VARCHAR(300) NOT NULL, 
	created_by VARCHAR(80) NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_price_plans PRIMARY KEY (id), 
	CONSTRAINT fk_price_plans_product_id_products FOREIGN KEY(product_id) REFERENCES products (id), 
	CONSTRAINT uq_price_plans_product_id_version UNIQUE (product_id, version)
);
INSERT INTO price_plans VALUES('pp_1m8twt5r66n8g34s4he4s','prd_1m8twt5qtebz4wrwp7rbh',1,'2025-12-31 16:00:00.000000',NULL,'demo price list v1','system','2026-12-02 08:09:22.907967');
INSERT INTO price_plans VALUES('pp_1m8twt5ry1b3eecexxerq','prd_1m8twt5rrvgqzqb0mfzd6',1,'2025-12-31 16:00:00.000000',NULL,'demo price list v1','system','2026-12-02 08:09:22.907967');
INSERT INTO price_plans VALUES('pp_1m8twt5sap81kytej3b8d','prd_1m8twt5s3h4gj5766r26n',1,'2025-12-31 16:00:00.000000',NULL,'demo price list v1','system','2026-12-02 08:09:22.907967');
CREATE TABLE product_orders (
	id VARCHAR(40) NOT NULL, 
	partner_id VARCHAR(40) NOT NULL, 
	product_id VARCHAR(40) NOT NULL, 
	state VARCHAR(24) NOT NULL, 
	active BOOLEAN NOT NULL, 
	note VARCHAR(300) NOT NULL, 
	created_at DATETIME NOT NULL, 
	completed_at DATETIME, 
	cancelled_at DATETIME, 
	CONSTRAINT pk_product_orders PRIMARY KEY (id), 
	CONSTRAINT fk_product_orders_partner_id_partners FOREIGN KEY(partner_id) REFERENCES partners (id), 
	CONSTRAINT fk_product_orders_product_id_products FOREIGN KEY(product_id) REFERENCES products (id)
);
INSERT INTO product_orders VALUES('ord_1m8twt80xdkjk8vrf8t4p','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5qtebz4wrwp7rbh','completed',1,'','2026-12-02 08:09:25.268136','2026-12-02 08:09:25.268136',NULL);
INSERT INTO product_orders VALUES('ord_1m8twt8179katv10f9gde','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5rrvgqzqb0mfzd6','completed',1,'','2026-12-02 08:09:25.268136','2026-12-02 08:09:25.268136',NULL);
INSERT INTO product_orders VALUES('ord_1m8twt81eeq2td5jjxpcm','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5s3h4gj5766r26n','completed',1,'','2026-12-02 08:09:25.268136','2026-12-02 08:09:25.268136',NULL);
INSERT INTO product_orders VALUES('ord_1m8twt81mw2tzzpwnreny','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5qtebz4wrwp7rbh','completed',1,'','2026-12-02 08:09:25.268136','2026-12-02 08:09:25.268136',NULL);
INSERT INTO product_orders VALUES('ord_1m8twt81t5vpxdn2mqfnw','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5rrvgqzqb0mfzd6','completed',1,'','2026-12-02 08:09:25.268136','2026-12-02 08:09:25.268136',NULL);
INSERT INTO product_orders VALUES('ord_1m8twt81z6jxnydkwnt0m','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5s3h4gj5766r26n','completed',1,'','2026-12-02 08:09:25.268136','2026-12-02 08:09:25.268136',NULL);
CREATE TABLE ticket_attachments (
	id VARCHAR(40) NOT NULL, 
	ticket_id VARCHAR(40) NOT NULL, 
	partner_id VARCHAR(40) NOT NULL, 
	comment_id VARCHAR(40), 
	filename VARCHAR(200) NOT NULL, 
	content_type VARCHAR(100) NOT NULL, 
	size INTEGER NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	storage_key VARCHAR(200) NOT NULL, 
	uploaded_by_type VARCHAR(20) NOT NULL, 
	uploaded_by_id VARCHAR(80) NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_ticket_attachments PRIMARY KEY (id), 
	CONSTRAINT fk_ticket_attachments_ticket_id_tickets FOREIGN KEY(ticket_id) REFERENCES tickets (id)
);
CREATE TABLE ticket_breaches (
	id VARCHAR(40) NOT NULL, 
	ticket_id VARCHAR(40) NOT NULL, 
	partner_id VARCHAR(40) NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	due_at DATETIME NOT NULL, 
	detected_at DATETIME NOT NULL, 
	owner_id VARCHAR(40), 
	escalated_to VARCHAR(40), 
	CONSTRAINT pk_ticket_breaches PRIMARY KEY (id), 
	CONSTRAINT fk_ticket_breaches_ticket_id_tickets FOREIGN KEY(ticket_id) REFERENCES tickets (id), 
	CONSTRAINT uq_ticket_breaches_ticket_id_kind_due_at UNIQUE (ticket_id, kind, due_at)
);
CREATE TABLE ticket_comments (
	id VARCHAR(40) NOT NULL, 
	ticket_id VARCHAR(40) NOT NULL, 
	partner_id VARCHAR(40) NOT NULL, 
	author_type VARCHAR(20) NOT NULL, 
	author_id VARCHAR(80) NOT NULL, 
	author_name VARCHAR(100) NOT NULL, 
	body TEXT NOT NULL, 
	internal BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_ticket_comments PRIMARY KEY (id), 
	CONSTRAINT fk_ticket_comments_ticket_id_tickets FOREIGN KEY(ticket_id) REFERENCES tickets (id)
);
CREATE TABLE usage_daily (
	id INTEGER NOT NULL, 
	partner_id VARCHAR(40) NOT NULL, 
	product_id VARCHAR(40) NOT NULL, 
	day DATE NOT NULL, 
	month VARCHAR(7) NOT NULL, 
	calls BIGINT NOT NULL, 
	quantity BIGINT NOT NULL, 
	amount BIGINT NOT NULL, 
	CONSTRAINT pk_usage_daily PRIMARY KEY (id), 
	CONSTRAINT fk_usage_daily_partner_id_partners FOREIGN KEY(partner_id) REFERENCES partners (id), 
	CONSTRAINT fk_usage_daily_product_id_products FOREIGN KEY(product_id) REFERENCES products (id), 
	CONSTRAINT uq_usage_daily_partner_id_product_id_day UNIQUE (partner_id, product_id, day)
);
INSERT INTO usage_daily VALUES(1,'prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5qtebz4wrwp7rbh','2026-12-02','2026-12',12,12,6000);
INSERT INTO usage_daily VALUES(2,'prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5qtebz4wrwp7rbh','2026-12-02','2026-12',12,12,5760);
CREATE TABLE usage_records (
	id VARCHAR(40) NOT NULL, 
	partner_id VARCHAR(40) NOT NULL, 
	product_id VARCHAR(40) NOT NULL, 
	capability VARCHAR(20) NOT NULL, 
	operation VARCHAR(40) NOT NULL, 
	client_id VARCHAR(40) NOT NULL, 
	request_key VARCHAR(120) NOT NULL, 
	quantity BIGINT NOT NULL, 
	unit VARCHAR(20) NOT NULL, 
	amount BIGINT NOT NULL, 
	billing_mode VARCHAR(10) NOT NULL, 
	price_plan_id VARCHAR(40) NOT NULL, 
	band VARCHAR(20) NOT NULL, 
	scope VARCHAR(20) NOT NULL, 
	month VARCHAR(7) NOT NULL, 
	grant_id VARCHAR(40), 
	journal_entry_id VARCHAR(40) NOT NULL, 
	occurred_at DATETIME NOT NULL, 
	recipients JSON NOT NULL, 
	response JSON NOT NULL, 
	request_hash VARCHAR(64) NOT NULL, 
	CONSTRAINT pk_usage_records PRIMARY KEY (id), 
	CONSTRAINT fk_usage_records_journal_entry_id_journal_entries FOREIGN KEY(journal_entry_id) REFERENCES journal_entries (id), 
	CONSTRAINT fk_usage_records_partner_id_partners FOREIGN KEY(partner_id) REFERENCES partners (id), 
	CONSTRAINT fk_usage_records_product_id_products FOREIGN KEY(product_id) REFERENCES products (id), 
	CONSTRAINT uq_usage_records_partner_id_request_key UNIQUE (partner_id, request_key)
);
INSERT INTO usage_records VALUES('cdr_1m8twtwkw0v5zx1gew18n','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt83gcjyb8109zdv6','ap-k0',1,'segment',500,'prepaid','pp_1m8twt5r66n8g34s4he4s','list','national','2026-12','gr_1m8twtwkc6y9c04bdaw6p','je_1m8twtwm49qzt71ndsn3p','2026-12-02 08:09:46.325416','["+8613800138000"]','{"requestId":"ap-k0","messages":[{"messageId":"msg_1m8twtwkwtx17k99mg17g","to":"+8613800138000","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0500","currency":"CNY"}','5471b861b30bcab4fc02b50ee958d422832cd7d11713f97caa4551021aa5f156');
INSERT INTO usage_records VALUES('cdr_1m8twtwmxecvterapr2h0','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt83gcjyb8109zdv6','ap-k1',1,'segment',500,'prepaid','pp_1m8twt5r66n8g34s4he4s','list','national','2026-12','gr_1m8twtwkc6y9c04bdaw6p','je_1m8twtwn1018wa3238s0c','2026-12-02 08:09:46.396346','["+8613800138001"]','{"requestId":"ap-k1","messages":[{"messageId":"msg_1m8twtwmxp0sn9c7v07tv","to":"+8613800138001","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0500","currency":"CNY"}','850e913328acec713e548009b983618b20e6d34e8a7d158a8a4dbc3d30615f27');
INSERT INTO usage_records VALUES('cdr_1m8twtwnksh6f3hhp35kc','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt83gcjyb8109zdv6','ap-k2',1,'segment',500,'prepaid','pp_1m8twt5r66n8g34s4he4s','list','national','2026-12','gr_1m8twtwkc6y9c04bdaw6p','je_1m8twtwnp709t12m5026c','2026-12-02 08:09:46.415337','["+8613800138002"]','{"requestId":"ap-k2","messages":[{"messageId":"msg_1m8twtwnke309w72g209n","to":"+8613800138002","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0500","currency":"CNY"}','1ea272d3b652c5f9ffe55ccf65f5758ef91732500e1bbcb1b7d907e3b3814528');
INSERT INTO usage_records VALUES('cdr_1m8twtwp6e74evwmgsjsa','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt83gcjyb8109zdv6','ap-k3',1,'segment',500,'prepaid','pp_1m8twt5r66n8g34s4he4s','list','national','2026-12','gr_1m8twtwkc6y9c04bdaw6p','je_1m8twtwpap61zg4gmamah','2026-12-02 08:09:46.437632','["+8613800138003"]','{"requestId":"ap-k3","messages":[{"messageId":"msg_1m8twtwp64avd3rw2mvkh","to":"+8613800138003","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0500","currency":"CNY"}','e37dbc5eb22f3ced2fc78343fb338d9592b6715eee0188d0793a22a2eeee4552');
INSERT INTO usage_records VALUES('cdr_1m8twtwpt3hb5c5c4ejs0','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt83gcjyb8109zdv6','ap-k4',1,'segment',500,'prepaid','pp_1m8twt5r66n8g34s4he4s','list','national','2026-12','gr_1m8twtwkc6y9c04bdaw6p','je_1m8twtwpy3r226j4gksd6','2026-12-02 08:09:46.455122','["+8613800138004"]','{"requestId":"ap-k4","messages":[{"messageId":"msg_1m8twtwptvrn9jf9vkshc","to":"+8613800138004","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0500","currency":"CNY"}','3a2e66bf027ee92591ae2a345891f54b1a858370fdb21c040d5e32480a23f925');
INSERT INTO usage_records VALUES('cdr_1m8twtwqgddj3pfbsa9p2','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt83gcjyb8109zdv6','ap-k5',1,'segment',500,'prepaid','pp_1m8twt5r66n8g34s4he4s','list','national','2026-12','gr_1m8twtwkc6y9c04bdaw6p','je_1m8twtwqkknpegc527rhv','2026-12-02 08:09:46.477149','["+8613800138005"]','{"requestId":"ap-k5","messages":[{"messageId":"msg_1m8twtwqggg09d2t1htbp","to":"+8613800138005","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0500","currency":"CNY"}','46423af6611e61536502f1554ae6507e7e360d386761a726b7ffd03df05f452b');
INSERT INTO usage_records VALUES('cdr_1m8twtwr43pss3jvpkkt2','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt83gcjyb8109zdv6','ap-k6',1,'segment',500,'prepaid','pp_1m8twt5r66n8g34s4he4s','list','national','2026-12','gr_1m8twtwkc6y9c04bdaw6p','je_1m8twtwr7gs8a57ng2kep','2026-12-02 08:09:46.497023','["+8613800138006"]','{"requestId":"ap-k6","messages":[{"messageId":"msg_1m8twtwr4w0ksb4s7h8zx","to":"+8613800138006","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0500","currency":"CNY"}','46696da06f9d9f3a9c2a7b1bdb866e669156ae7cf49a344cd59c91e3dc44953d');
INSERT INTO usage_records VALUES('cdr_1m8twtwrp64aezn7cxz9g','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt83gcjyb8109zdv6','ap-k7',1,'segment',500,'prepaid','pp_1m8twt5r66n8g34s4he4s','list','national','2026-12','gr_1m8twtwkc6y9c04bdaw6p','je_1m8twtwrth621fbaxthbw','2026-12-02 08:09:46.515483','["+8613800138007"]','{"requestId":"ap-k7","messages":[{"messageId":"msg_1m8twtwrpvye20n7n18kb","to":"+8613800138007","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0500","currency":"CNY"}','fc02eee3fa22f9849fe44157d8fce0d8b0994b2b7f85ea31abc1439d0f9ea43b');
INSERT INTO usage_records VALUES('cdr_1m8twtwsbtepmhhjt5ang','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt83gcjyb8109zdv6','ap-k8',1,'segment',500,'prepaid','pp_1m8twt5r66n8g34s4he4s','list','national','2026-12','gr_1m8twtwkc6y9c04bdaw6p','je_1m8twtwsgkkrxd09z55wp','2026-12-02 08:09:46.536195','["+8613800138008"]','{"requestId":"ap-k8","messages":[{"messageId":"msg_1m8twtwsbfwwm9ztnnmwq","to":"+8613800138008","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0500","currency":"CNY"}','95e1b5758e42be997fe03f964030ee782be6b194c2ac5046965d047fa9fb026a');
INSERT INTO usage_records VALUES('cdr_1m8twtwt1xshmv3v1bfj1','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt83gcjyb8109zdv6','ap-k9',1,'segment',500,'prepaid','pp_1m8twt5r66n8g34s4he4s','list','national','2026-12','gr_1m8twtwkc6y9c04bdaw6p','je_1m8twtwt5xwyven5r476a','2026-12-02 08:09:46.557863','["+8613800138009"]','{"requestId":"ap-k9","messages":[{"messageId":"msg_1m8twtwt1fvqkj8rfrg3s","to":"+8613800138009","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0500","currency":"CNY"}','70019b708f35d2be53261da7e35c9030890b6dae0930be8baa856e370748c709');
INSERT INTO usage_records VALUES('cdr_1m8twtwtnex8x1x7kxs2f','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt83gcjyb8109zdv6','ap-k10',1,'segment',500,'prepaid','pp_1m8twt5r66n8g34s4he4s','list','national','2026-12','gr_1m8twtwkc6y9c04bdaw6p','je_1m8twtwtry4j364f9yrc4','2026-12-02 08:09:46.577982','["+8613800138010"]','{"requestId":"ap-k10","messages":[{"messageId":"msg_1m8twtwtn75s4jhkbhxx8","to":"+8613800138010","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0500","currency":"CNY"}','2afd3236d8dfc4645d0156d6fed68fdc107a8ea93f1cacb23e4f3e8627eed8b3');
INSERT INTO usage_records VALUES('cdr_1m8twtwv9z6a0xrsj159d','prt_1m8twt7ran89rygbkdrsd','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt83gcjyb8109zdv6','ap-k11',1,'segment',500,'prepaid','pp_1m8twt5r66n8g34s4he4s','list','national','2026-12','gr_1m8twtwkc6y9c04bdaw6p','je_1m8twtwvcvjmvchfc09f3','2026-12-02 08:09:46.597094','["+8613800138011"]','{"requestId":"ap-k11","messages":[{"messageId":"msg_1m8twtwv93e31cvh75dmw","to":"+8613800138011","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0500","currency":"CNY"}','2511fa4595b65820bb22cf2c5adb206c608c446ff44531123840446972e5ee47');
INSERT INTO usage_records VALUES('cdr_1m8twtx28a7tah4h72xka','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt8b46g2djdbnc00v','si-k0',1,'segment',480,'prepaid','pp_1m8twt5r66n8g34s4he4s','certified','national','2026-12','gr_1m8twtx239x6qy0ejjz59','je_1m8twtx2fhvzes00x9xzf','2026-12-02 08:09:46.813906','["+8613800138000"]','{"requestId":"si-k0","messages":[{"messageId":"msg_1m8twtx28eby2x0fwbxyy","to":"+8613800138000","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0480","currency":"CNY"}','5471b861b30bcab4fc02b50ee958d422832cd7d11713f97caa4551021aa5f156');
INSERT INTO usage_records VALUES('cdr_1m8twtx2xyekghej6c5y6','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt8b46g2djdbnc00v','si-k1',1,'segment',480,'prepaid','pp_1m8twt5r66n8g34s4he4s','certified','national','2026-12','gr_1m8twtx239x6qy0ejjz59','je_1m8twtx31vcc634c69bwd','2026-12-02 08:09:46.843970','["+8613800138001"]','{"requestId":"si-k1","messages":[{"messageId":"msg_1m8twtx2xgx10f7z9syh2","to":"+8613800138001","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0480","currency":"CNY"}','850e913328acec713e548009b983618b20e6d34e8a7d158a8a4dbc3d30615f27');
INSERT INTO usage_records VALUES('cdr_1m8twtx3dts9h0wk2f1gh','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt8b46g2djdbnc00v','si-k2',1,'segment',480,'prepaid','pp_1m8twt5r66n8g34s4he4s','certified','national','2026-12','gr_1m8twtx239x6qy0ejjz59','je_1m8twtx3h8zepz9th61a1','2026-12-02 08:09:46.860503','["+8613800138002"]','{"requestId":"si-k2","messages":[{"messageId":"msg_1m8twtx3dnppd03e2zd1f","to":"+8613800138002","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0480","currency":"CNY"}','1ea272d3b652c5f9ffe55ccf65f5758ef91732500e1bbcb1b7d907e3b3814528');
INSERT INTO usage_records VALUES('cdr_1m8twtx3zy5t90ztgqjv9','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt8b46g2djdbnc00v','si-k3',1,'segment',480,'prepaid','pp_1m8twt5r66n8g34s4he4s','certified','national','2026-12','gr_1m8twtx239x6qy0ejjz59','je_1m8twtx430g2m1zc41wqv','2026-12-02 08:09:46.878148','["+8613800138003"]','{"requestId":"si-k3","messages":[{"messageId":"msg_1m8twtx3zxkgd085b6pbk","to":"+8613800138003","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0480","currency":"CNY"}','e37dbc5eb22f3ced2fc78343fb338d9592b6715eee0188d0793a22a2eeee4552');
INSERT INTO usage_records VALUES('cdr_1m8twtx4ke8evqdjjbk1r','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt8b46g2djdbnc00v','si-k4',1,'segment',480,'prepaid','pp_1m8twt5r66n8g34s4he4s','certified','national','2026-12','gr_1m8twtx239x6qy0ejjz59','je_1m8twtx4qmxm2pa07qwwr','2026-12-02 08:09:46.898194','["+8613800138004"]','{"requestId":"si-k4","messages":[{"messageId":"msg_1m8twtx4kqcwhv02y09ne","to":"+8613800138004","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0480","currency":"CNY"}','3a2e66bf027ee92591ae2a345891f54b1a858370fdb21c040d5e32480a23f925');
INSERT INTO usage_records VALUES('cdr_1m8twtx576b451wd9gean','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt8b46g2djdbnc00v','si-k5',1,'segment',480,'prepaid','pp_1m8twt5r66n8g34s4he4s','certified','national','2026-12','gr_1m8twtx239x6qy0ejjz59','je_1m8twtx5bkg072g6yfyp5','2026-12-02 08:09:46.918531','["+8613800138005"]','{"requestId":"si-k5","messages":[{"messageId":"msg_1m8twtx5724m9v73x2smh","to":"+8613800138005","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0480","currency":"CNY"}','46423af6611e61536502f1554ae6507e7e360d386761a726b7ffd03df05f452b');
INSERT INTO usage_records VALUES('cdr_1m8twtx5smevqhd8q1a0b','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt8b46g2djdbnc00v','si-k6',1,'segment',480,'prepaid','pp_1m8twt5r66n8g34s4he4s','certified','national','2026-12','gr_1m8twtx239x6qy0ejjz59','je_1m8twtx5x6qbx63nnegj3','2026-12-02 08:09:46.936496','["+8613800138006"]','{"requestId":"si-k6","messages":[{"messageId":"msg_1m8twtx5s7j95sfhwstv5","to":"+8613800138006","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0480","currency":"CNY"}','46696da06f9d9f3a9c2a7b1bdb866e669156ae7cf49a344cd59c91e3dc44953d');
INSERT INTO usage_records VALUES('cdr_1m8twtx6cjkg5x07ft8g7','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt8b46g2djdbnc00v','si-k7',1,'segment',480,'prepaid','pp_1m8twt5r66n8g34s4he4s','certified','national','2026-12','gr_1m8twtx239x6qy0ejjz59','je_1m8twtx6gyfg4w6ex9tg9','2026-12-02 08:09:46.954979','["+8613800138007"]','{"requestId":"si-k7","messages":[{"messageId":"msg_1m8twtx6c1gdtqs3b4sgc","to":"+8613800138007","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0480","currency":"CNY"}','fc02eee3fa22f9849fe44157d8fce0d8b0994b2b7f85ea31abc1439d0f9ea43b');
INSERT INTO usage_records VALUES('cdr_1m8twtx6xr48r69ftqsfn','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt8b46g2djdbnc00v','si-k8',1,'segment',480,'prepaid','pp_1m8twt5r66n8g34s4he4s','certified','national','2026-12','gr_1m8twtx239x6qy0ejjz59','je_1m8twtx71ktc6nnvza7ne','2026-12-02 08:09:46.972458','["+8613800138008"]','{"requestId":"si-k8","messages":[{"messageId":"msg_1m8twtx6xe34e8nwp1h0j","to":"+8613800138008","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0480","currency":"CNY"}','95e1b5758e42be997fe03f964030ee782be6b194c2ac5046965d047fa9fb026a');
INSERT INTO usage_records VALUES('cdr_1m8twtx7jjbnqymcdx2y2','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt8b46g2djdbnc00v','si-k9',1,'segment',480,'prepaid','pp_1m8twt5r66n8g34s4he4s','certified','national','2026-12','gr_1m8twtx239x6qy0ejjz59','je_1m8twtx7q56jc0216f138','2026-12-02 08:09:46.993293','["+8613800138009"]','{"requestId":"si-k9","messages":[{"messageId":"msg_1m8twtx7jd4fk2maekxwg","to":"+8613800138009","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0480","currency":"CNY"}','70019b708f35d2be53261da7e35c9030890b6dae0930be8baa856e370748c709');
INSERT INTO usage_records VALUES('cdr_1m8twtx8d7s8c70r124ym','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt8b46g2djdbnc00v','si-k10',1,'segment',480,'prepaid','pp_1m8twt5r66n8g34s4he4s','certified','national','2026-12','gr_1m8twtx239x6qy0ejjz59','je_1m8twtx8hfbyw51dtbge1','2026-12-02 08:09:47.019957','["+8613800138010"]','{"requestId":"si-k10","messages":[{"messageId":"msg_1m8twtx8dreq8qc4w7tgy","to":"+8613800138010","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0480","currency":"CNY"}','2afd3236d8dfc4645d0156d6fed68fdc107a8ea93f1cacb23e4f3e8627eed8b3');
INSERT INTO usage_records VALUES('cdr_1m8twtx9c9e10zrzyazkf','prt_1m8twt7rrp2wgs3pjccbn','prd_1m8twt5qtebz4wrwp7rbh','sms','sendMessage','cli_1m8twt8b46g2djdbnc00v','si-k11',1,'segment',480,'prepaid','pp_1m8twt5r66n8g34s4he4s','certified','national','2026-12','gr_1m8twtx239x6qy0ejjz59','je_1m8twtx9fyx2sh26m554w','2026-12-02 08:09:47.050293','["+8613800138011"]','{"requestId":"si-k11","messages":[{"messageId":"msg_1m8twtx9cxtahh9hbnena","to":"+8613800138011","status":"submitted"}],"segments":1,"encoding":"UCS2","quantity":1,"unit":"segment","amountCharged":"0.0480","currency":"CNY"}','2511fa4595b65820bb22cf2c5adb206c608c446ff44531123840446972e5ee47');
CREATE TABLE messages (
	id VARCHAR(40) NOT NULL, 
	usage_record_id VARCHAR(40) NOT NULL, 
	partner_id VARCHAR(40) NOT NULL, 
	capability VARCHAR(20) NOT NULL, 
	recipient VARCHAR(20) NOT NULL, 
	parts INTEGER NOT NULL, 
	network_ids JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_messages PRIMARY KEY (id), 
	CONSTRAINT fk_messages_usage_record_id_usage_records FOREIGN KEY(usage_record_id) REFERENCES usage_records (id)
);
INSERT INTO messages VALUES('msg_1m8twtwkwtx17k99mg17g','cdr_1m8twtwkw0v5zx1gew18n','prt_1m8twt7ran89rygbkdrsd','sms','+8613800138000',1,'["c340cc77dd75000001"]','2026-12-02 08:09:46.325416');
INSERT INTO messages VALUES('msg_1m8twtwmxp0sn9c7v07tv','cdr_1m8twtwmxecvterapr2h0','prt_1m8twt7ran89rygbkdrsd','sms','+8613800138001',1,'["d4df7baa19c5000002"]','2026-12-02 08:09:46.396346');
INSERT INTO messages VALUES('msg_1m8twtwnke309w72g209n','cdr_1m8twtwnksh6f3hhp35kc','prt_1m8twt7ran89rygbkdrsd','sms','+8613800138002',1,'["f0b3b9607ccc000003"]','2026-12-02 08:09:46.415337');
INSERT INTO messages VALUES('msg_1m8twtwp64avd3rw2mvkh','cdr_1m8twtwp6e74evwmgsjsa','prt_1m8twt7ran89rygbkdrsd','sms','+8613800138003',1,'["8c9e6d66bab3000004"]','2026-12-02 08:09:46.437632');
INSERT INTO messages VALUES('msg_1m8twtwptvrn9jf9vkshc','cdr_1m8twtwpt3hb5c5c4ejs0','prt_1m8twt7ran89rygbkdrsd','sms','+8613800138004',1,'["8fb189f2f173000005"]','2026-12-02 08:09:46.455122');
INSERT INTO messages VALUES('msg_1m8twtwqggg09d2t1htbp','cdr_1m8twtwqgddj3pfbsa9p2','prt_1m8twt7ran89rygbkdrsd','sms','+8613800138005',1,'["7a78458aa206000006"]','2026-12-02 08:09:46.477149');
INSERT INTO messages VALUES('msg_1m8twtwr4w0ksb4s7h8zx','cdr_1m8twtwr43pss3jvpkkt2','prt_1m8twt7ran89rygbkdrsd','sms','+8613800138006',1,'["d17530956f97000007"]','2026-12-02 08:09:46.497023');
INSERT INTO messages VALUES('msg_1m8twtwrpvye20n7n18kb','cdr_1m8twtwrp64aezn7cxz9g','prt_1m8twt7ran89rygbkdrsd','sms','+8613800138007',1,'["ae20534d55bf000008"]','2026-12-02 08:09:46.515483');
INSERT INTO messages VALUES('msg_1m8twtwsbfwwm9ztnnmwq','cdr_1m8twtwsbtepmhhjt5ang','prt_1m8twt7ran89rygbkdrsd','sms','+8613800138008',1,'["6eef122092e4000009"]','2026-12-02 08:09:46.536195');
INSERT INTO messages VALUES('msg_1m8twtwt1fvqkj8rfrg3s','cdr_1m8twtwt1xshmv3v1bfj1','prt_1m8twt7ran89rygbkdrsd','sms','+8613800138009',1,'["4e6d59c22be300000a"]','2026-12-02 08:09:46.557863');
INSERT INTO messages VALUES('msg_1m8twtwtn75s4jhkbhxx8','cdr_1m8twtwtnex8x1x7kxs2f','prt_1m8twt7ran89rygbkdrsd','sms','+8613800138010',1,'["c99a6de8e06f00000b"]','2026-12-02 08:09:46.577982');
INSERT INTO messages VALUES('msg_1m8twtwv93e31cvh75dmw','cdr_1m8twtwv9z6a0xrsj159d','prt_1m8twt7ran89rygbkdrsd','sms','+8613800138011',1,'["59a9f109a59100000c"]','2026-12-02 08:09:46.597094');
INSERT INTO messages VALUES('msg_1m8twtx28eby2x0fwbxyy','cdr_1m8twtx28a7tah4h72xka','prt_1m8twt7rrp2wgs3pjccbn','sms','+8613800138000',1,'["381c7802ceed00000d"]','2026-12-02 08:09:46.813906');
INSERT INTO messages VALUES('msg_1m8twtx2xgx10f7z9syh2','cdr_1m8twtx2xyekghej6c5y6','prt_1m8twt7rrp2wgs3pjccbn','sms','+8613800138001',1,'["445a80982f6c00000e"]','2026-12-02 08:09:46.843970');
INSERT INTO messages VALUES('msg_1m8twtx3dnppd03e2zd1f','cdr_1m8twtx3dts9h0wk2f1gh','prt_1m8twt7rrp2wgs3pjccbn','sms','+8613800138002',1,'["83817b3eeab500000f"]','2026-12-02 08:09:46.860503');
INSERT INTO messages VALUES('msg_1m8twtx3zxkgd085b6pbk','cdr_1m8twtx3zy5t90ztgqjv9','prt_1m8twt7rrp2wgs3pjccbn','sms','+8613800138003',1,'["ab811deb67ba000010"]','2026-12-02 08:09:46.878148');
INSERT INTO messages VALUES('msg_1m8twtx4kqcwhv02y09ne','cdr_1m8twtx4ke8evqdjjbk1r','prt_1m8twt7rrp2wgs3pjccbn','sms','+8613800138004',1,'["4dadb08a280b000011"]','2026-12-02 08:09:46.898194');
INSERT INTO messages VALUES('msg_1m8twtx5724m9v73x2smh','cdr_1m8twtx576b451wd9gean','prt_1m8twt7rrp2wgs3pjccbn','sms','+8613800138005',1,'["2d3f623f90b0000012"]','2026-12-02 08:09:46.918531');
INSERT INTO messages VALUES('msg_1m8twtx5s7j95sfhwstv5','cdr_1m8twtx5smevqhd8q1a0b','prt_1m8twt7rrp2wgs3pjccbn','sms','+8613800138006',1,'["ce0bdd53c6b0000013"]','2026-12-02 08:09:46.936496');
INSERT INTO messages VALUES('msg_1m8twtx6c1gdtqs3b4sgc','cdr_1m8twtx6cjkg5x07ft8g7','prt_1m8twt7rrp2wgs3pjccbn','sms','+8613800138007',1,'["a905fed4ff4a000014"]','2026-12-02 08:09:46.954979');
INSERT INTO messages VALUES('msg_1m8twtx6xe34e8nwp1h0j','cdr_1m8twtx6xr48r69ftqsfn','prt_1m8twt7rrp2wgs3pjccbn','sms','+8613800138008',1,'["24081490c151000015"]','2026-12-02 08:09:46.972458');
INSERT INTO messages VALUES('msg_1m8twtx7jd4fk2maekxwg','cdr_1m8twtx7jjbnqymcdx2y2','prt_1m8twt7rrp2wgs3pjccbn','sms','+8613800138009',1,'["7dbf1588059e000016"]','2026-12-02 08:09:46.993293');
INSERT INTO messages VALUES('msg_1m8twtx8dreq8qc4w7tgy','cdr_1m8twtx8d7s8c70r124ym','prt_1m8twt7rrp2wgs3pjccbn','sms','+8613800138010',1,'["a42d711b438a000017"]','2026-12-02 08:09:47.019957');
INSERT INTO messages VALUES('msg_1m8twtx9cxtahh9hbnena','cdr_1m8twtx9c9e10zrzyazkf','prt_1m8twt7rrp2wgs3pjccbn','sms','+8613800138011',1,'["405eee8d967a000018"]','2026-12-02 08:09:47.050293');
CREATE TABLE price_tiers (
	id INTEGER NOT NULL, 
	plan_id VARCHAR(40) NOT NULL, 
	scope VARCHAR(20) NOT NULL, 
	band VARCHAR(20) NOT NULL, 
	from_volume BIGINT NOT NULL, 
	unit_price BIGINT NOT NULL, 
	CONSTRAINT pk_price_tiers PRIMARY KEY (id), 
	CONSTRAINT fk_price_tiers_plan_id_price_plans FOREIGN KEY(plan_id) REFERENCES price_plans (id) ON DELETE CASCADE, 
	CONSTRAINT uq_price_tiers_plan_id_scope_band_from_volume UNIQUE (plan_id, scope, band, from_volume)
);
INSERT INTO price_tiers VALUES(1,'pp_1m8twt5r66n8g34s4he4s','national','list',0,500);
INSERT INTO price_tiers VALUES(2,'pp_1m8twt5r66n8g34s4he4s','national','list',100000,450);
INSERT INTO price_tiers VALUES(3,'pp_1m8twt5r66n8g34s4he4s','national','list',1000000,400);
INSERT INTO price_tiers VALUES(4,'pp_1m8twt5r66n8g34s4he4s','local','list',0,490);
INSERT INTO price_tiers VALUES(5,'pp_1m8twt5r66n8g34s4he4s','local','list',100000,440);
INSERT INTO price_tiers VALUES(6,'pp_1m8twt5r66n8g34s4he4s','local','list',1000000,390);
INSERT INTO price_tiers VALUES(7,'pp_1m8twt5r66n8g34s4he4s','national','certified',0,480);
INSERT INTO price_tiers VALUES(8,'pp_1m8twt5r66n8g34s4he4s','national','certified',100000,430);
INSERT INTO price_tiers VALUES(9,'pp_1m8twt5r66n8g34s4he4s','national','certified',1000000,380);
INSERT INTO price_tiers VALUES(10,'pp_1m8twt5r66n8g34s4he4s','local','certified',0,470);
INSERT INTO price_tiers VALUES(11,'pp_1m8twt5r66n8g34s4he4s','local','certified',100000,420);
INSERT INTO price_tiers VALUES(12,'pp_1m8twt5r66n8g34s4he4s','local','certified',1000000,370);
INSERT INTO price_tiers VALUES(13,'pp_1m8twt5r66n8g34s4he4s','national','close',0,460);
INSERT INTO price_tiers VALUES(14,'pp_1m8twt5r66n8g34s4he4s','national','close',100000,410);
INSERT INTO price_tiers VALUES(15,'pp_1m8twt5r66n8g34s4he4s','national','close',1000000,360);
INSERT INTO price_tiers VALUES(16,'pp_1m8twt5r66n8g34s4he4s','local','close',0,450);
INSERT INTO price_tiers VALUES(17,'pp_1m8twt5r66n8g34s4he4s','local','close',100000,400);
INSERT INTO price_tiers VALUES(18,'pp_1m8twt5r66n8g34s4he4s','local','close',1000000,350);
INSERT INTO price_tiers VALUES(19,'pp_1m8twt5r66n8g34s4he4s','national','strategic',0,440);
INSERT INTO price_tiers VALUES(20,'pp_1m8twt5r66n8g34s4he4s','national','strategic',100000,390);
INSERT INTO price_tiers VALUES(21,'pp_1m8twt5r66n8g34s4he4s','national','strategic',1000000,340);
INSERT INTO price_tiers VALUES(22,'pp_1m8twt5r66n8g34s4he4s','local','strategic',0,430);
INSERT INTO price_tiers VALUES(23,'pp_1m8twt5r66n8g34s4he4s','local','strategic',100000,380);
INSERT INTO price_tiers VALUES(24,'pp_1m8twt5r66n8g34s4he4s','local','strategic',1000000,330);
INSERT INTO price_tiers VALUES(25,'pp_1m8twt5ry1b3eecexxerq','national','list',0,3000);
INSERT INTO price_tiers VALUES(26,'pp_1m8twt5ry1b3eecexxerq','national','certified',0,2900);
INSERT INTO price_tiers VALUES(27,'pp_1m8twt5ry1b3eecexxerq','national','close',0,2800);
INSERT INTO price_tiers VALUES(28,'pp_1m8twt5ry1b3eecexxerq','national','strategic',0,2700);
INSERT INTO price_tiers VALUES(29,'pp_1m8twt5sap81kytej3b8d','national','list',0,1500);
INSERT INTO price_tiers VALUES(30,'pp_1m8twt5sap81kytej3b8d','national','certified',0,1450);
INSERT INTO price_tiers VALUES(31,'pp_1m8twt5sap81kytej3b8d','national','close',0,1400);
INSERT INTO price_tiers VALUES(32,'pp_1m8twt5sap81kytej3b8d','national','strategic',0,1350);
CREATE INDEX ix_access_tokens_subject_id ON access_tokens (subject_id);
CREATE INDEX ix_accounts_owner_id ON accounts (owner_id);
CREATE INDEX ix_audit_entity ON audit_log (entity_type, entity_id);
CREATE INDEX ix_audit_log_at ON audit_log (at);
CREATE INDEX ix_audit_log_partner_id ON audit_log (partner_id);
CREATE INDEX ix_journal_entries_created_at ON journal_entries (created_at);
CREATE INDEX ix_journal_ref ON journal_entries (ref_type, ref_id);
CREATE INDEX ix_notifications_created_at ON notifications (created_at);
CREATE INDEX ix_notifications_recipient_id ON notifications (recipient_id);
CREATE INDEX ix_partners_status ON partners (status);
CREATE INDEX ix_sla_policies_version ON sla_policies (version);
CREATE INDEX ix_api_clients_partner_id ON api_clients (partner_id);
CREATE INDEX ix_grants_partner_id ON grants (partner_id);
CREATE INDEX ix_grants_state_expires ON grants (state, expires_at);
CREATE INDEX ix_journal_lines_account_id ON journal_lines (account_id);
CREATE INDEX ix_journal_lines_entry_id ON journal_lines (entry_id);
CREATE INDEX ix_partner_users_partner_id ON partner_users (partner_id);
CREATE INDEX ix_payments_partner_id ON payments (partner_id);
CREATE INDEX ix_payments_state ON payments (state);
CREATE INDEX ix_products_capability_code ON products (capability_code);
CREATE INDEX ix_tickets_breached ON tickets (breached);
CREATE INDEX ix_tickets_owner_id ON tickets (owner_id);
CREATE INDEX ix_tickets_partner_created ON tickets (partner_id, created_at);
CREATE INDEX ix_tickets_state_due ON tickets (state, next_due_at);
CREATE INDEX ix_invoices_partner_id ON invoices (partner_id);
CREATE INDEX ix_price_plans_product_id ON price_plans (product_id);
CREATE INDEX ix_orders_partner_product ON product_orders (partner_id, product_id);
CREATE INDEX ix_product_orders_partner_id ON product_orders (partner_id);
CREATE INDEX ix_product_orders_state ON product_orders (state);
CREATE INDEX ix_ticket_attachments_ticket_id ON ticket_attachments (ticket_id);
CREATE INDEX ix_ticket_breaches_detected_at ON ticket_breaches (detected_at);
CREATE INDEX ix_ticket_breaches_partner_id ON ticket_breaches (partner_id);
CREATE INDEX ix_ticket_breaches_ticket_id ON ticket_breaches (ticket_id);
CREATE INDEX ix_ticket_comments_ticket_id ON ticket_comments (ticket_id);
CREATE INDEX ix_usage_daily_month ON usage_daily (month);
CREATE INDEX ix_usage_daily_partner_id ON usage_daily (partner_id);
CREATE INDEX ix_usage_partner_time ON usage_records (partner_id, occurred_at);
CREATE INDEX ix_usage_records_journal_entry_id ON usage_records (journal_entry_id);
CREATE INDEX ix_usage_records_month ON usage_records (month);
CREATE INDEX ix_messages_partner_id ON messages (partner_id);
CREATE INDEX ix_messages_usage_record_id ON messages (usage_record_id);
CREATE INDEX ix_price_tiers_plan_id ON price_tiers (plan_id);
COMMIT;
