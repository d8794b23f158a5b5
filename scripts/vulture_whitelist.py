"""Names vulture reports as unused that are used where it cannot see: by a library, or on the wire.

vulture (run by scripts/lint; settings in pyproject.toml's [tool.vulture]) only reads this file, never
runs it. Each ``_.name`` marks that name as used everywhere, so add a name here only with the reason it
is not dead; a name that a pattern covers (validators, routes, fixtures, migrations) is ignored in
pyproject.toml instead. Regenerate candidates with ``.venv/bin/vulture --make-whitelist``.
"""
# ruff: noqa: B018  # every line here is an attribute read that only vulture looks at

from vulture.whitelists.whitelist_utils import Whitelist

_ = Whitelist()

# Fields of models that are only written: they reach a reader as JSON (the console, an Open311 client,
# the benchmark table, the central's live view), which reads them by key.
_.cpu_s  # benchmarks/analysis_cost.py: a row of the JSON report
_.cpu_s_per_video_s
_.live_view  # central/api/auth_session.py: the console shows or hides the live view
_.token_type  # central/api/auth_session.py: OAuth2's token answer
_.needs_department  # central/api/console.py: the console shows a department picker
_.ingest_subscribed  # central/app.py: /healthz
_.from_status  # central/api/schemas.py (a ticket's history) and its column in central/models.py
_.accepted_at  # central/api/schemas.py and central/models.py; set by central/workflow.py
_.on_time_rate  # central/stats.py and central/api/schemas.py: the statistics page
_.median_hours_to_close
_.echoed  # tests: the echo RPC's answer, compared as a dict
# contract/event.py: event details the edge's rules write by keyword and the centre keeps as JSON for the
# console and the dataset export, which read them by key.
_.dwell_threshold_s
_.peak_score
_.regions
_.reference_since
# central/api/open311.py: fields of the GeoReport v2 documents that the standard defines.
_.service_name
_.keywords
_.status_notes
_.agency_responsible
_.service_notice
_.requested_datetime
_.updated_datetime
_.expected_datetime
_.address_id
_.zipcode
_.account_id

# SQLAlchemy: a TypeDecorator's hooks and settings, and a column kept for the record.
_.impl
_.cache_ok
_.process_bind_param
_.process_result_value
_.uploaded_by  # central/models.py: who uploaded a media file, for an audit

# Settings and callbacks that a library reads after we set them.
_.suppress_exceptions  # paho-mqtt Client
_.on_connect
_.on_connect_fail
_.on_disconnect
_.on_message
_.on_publish
_.on_subscribe
_.max_inflight_messages
_.max_queued_messages
_.SessionExpiryInterval  # paho-mqtt's MQTT v5 Properties
_.MessageExpiryInterval
_.ReceiveMaximum
_.thread_type  # PyAV codec contexts and streams
_.copy_opaque
_.pix_fmt
_.should_exit  # uvicorn.Server: asks it to stop
_.track_buffer  # Ultralytics' tracker arguments (edge/analysis/tracking.py)
_.gmc_method
_.with_reid

# Methods and parameters that a library calls by name.
_.ignore_aliases  # yaml.SafeDumper (edge/scenes/suite.py)
_.do_PUT  # http.server.BaseHTTPRequestHandler (tests/edge/test_delivery.py)
_.log_message
_.retry_state  # tenacity's wait callback signature (edge/commands/restarts.py)
