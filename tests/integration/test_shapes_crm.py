"""Brand shapes end to end (tests/integration/brand_shapes.py): crm_only, no_interaction_source, two_years."""

import pytest

from tests.integration.brand_shapes import (  # noqa: F401 (the tests, collected here)
    shapes_fixture,
    test_engagement_equals_an_independent_computation,
    test_experiments_only_where_one_runs,
    test_identities_resolve_against_the_planted_truth,
    test_kpis_without_a_source_are_not_measured_never_red,
    test_models_score_or_say_why_not,
    test_no_file_the_run_leaves_and_no_console_line_holds_the_salt,
    test_rfm_and_retention_equal_an_independent_computation,
    test_the_console_ends_with_what_was_published_where,
    test_the_shape_publishes_every_contract_table,
)

pytestmark = pytest.mark.slow

shape_run = shapes_fixture(["crm_only", "no_interaction_source", "two_years"])
