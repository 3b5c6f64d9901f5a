"""Shared fixtures: small generated images, so tests never depend on files outside the repo."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagegen import stripes

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def cat_path() -> Path:
    return DATA / "cat.jpg"


@pytest.fixture
def stripes_path(tmp_path) -> Path:
    path = tmp_path / "stripes.png"
    arr = (stripes(96, 96)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def style_file(tmp_path) -> Path:
    """A small fast style with random weights (test_fast, test_hardening)."""
    import torch

    from painterly.fast.model_file import FastStyle, style_to_bytes
    from painterly.fast.network import Architecture, TransformNet

    torch.manual_seed(0)
    path = tmp_path / "random.painterly"
    path.write_bytes(style_to_bytes(FastStyle(TransformNet(Architecture(width=4, blocks=1)), "random", {"steps": 0})))
    return path


# ---- test tiers: `pytest -m "not slow"` is the quick loop; .ci/run runs everything -----------
# Whole modules that start servers, browsers or clusters, and single tests that paint, train or
# run the CLI end to end (each took seconds in a full run; `pytest --durations=60` finds new ones).
SLOW_MODULES = {
    "test_server_load", "test_batch_ray", "test_server_browser", "test_server_page", "test_library_browser", "test_capsnet_train",
}
SLOW_TESTS = {
    # test_style_transfer
    "test_coarse_levels_of_a_very_wide_picture_get_a_margin_they_can_reflect", "test_iterate_averaging_is_used_on_every_level",
    "test_masks_give_each_region_its_own_style_and_leave_unmasked_parts_alone", "test_moments_matching_moves_the_picture_toward_the_style",
    "test_activation_smoothing_changes_the_targets_and_still_lowers_the_loss", "test_same_seed_same_picture_other_seed_other_picture",
    "test_quality_presets_set_the_steps_unless_iterations_are_given", "test_chroma_smoothing_removes_colour_noise_but_keeps_brightness_detail",
    "test_strength_goes_smoothly_from_the_photo_to_the_full_style", "test_the_loss_goes_down_and_the_picture_moves_toward_the_style",
    "test_preserve_colors_luminance_keeps_the_photos_chroma", "test_a_mask_that_covers_everything_is_the_same_as_no_mask",
    "test_style_scale_changes_the_picture", "test_the_histogram_palette_term_moves_the_colours_toward_the_styles_distribution",
    # test_batch
    "test_a_grid_paints_every_pair_fails_a_bad_photo_alone_and_resumes", "test_ctrl_c_stops_the_driver_cleanly_and_the_rerun_redoes_nothing",
    "test_a_killed_worker_has_its_job_retried_and_every_picture_is_written_once", "test_ray_is_not_imported_by_a_local_batch",
    "test_status_reports_counts_and_failures",
    # test_cli, test_hardening, test_server, test_server_hardening
    "test_sigterm_stops_the_run_and_keeps_the_best_image", "test_python_dash_m_exit_code_for_a_missing_file",
    "test_server_memory_stays_flat_over_30_jobs", "test_onnx_write_error_names_the_onnx_model", "test_threads_option_is_checked_and_applied",
    "test_same_seed_gives_byte_identical_files", "test_cli_serve_prints_its_url_serves_and_stops_cleanly",
    "test_api_fuzzed_from_its_openapi_schema_never_fails_inside",
    # test_fast
    "test_training_lowers_the_loss_on_a_fixed_batch", "test_resumed_training_is_identical_to_an_uninterrupted_one",
    "test_sigterm_during_training_keeps_the_network_and_a_resumable_checkpoint", "test_strength_zero_is_the_photo_and_one_is_the_network",
    "test_video_keeps_frames_size_and_audio", "test_train_command_writes_style_checkpoint_preview_and_resumes",
    "test_apply_to_a_folder_continues_past_bad_files",
    # test_explain, test_search, test_backbones, test_measure, test_capsnet_cli
    "test_crop_box_holds_every_pixel_that_changes_the_unit", "test_cli_reports_bad_input_in_one_line_and_writes_a_sheet",
    "test_invert_lowers_each_objective_and_stem_content_approaches_the_photo", "test_dream_raises_the_layer_and_the_unit_score",
    "test_map_keeps_neighbourhoods", "test_receptive_fields_match_brute_force",
    "test_style_distance_is_small_for_the_painting_itself_and_grows_with_difference",
    "test_bad_inputs_get_one_line_and_exit_2_before_any_work", "test_multimnist_train_eval_show", "test_train_json_and_eval_agree",
    # 2.5-7 s each in a quick-tier run
    "test_train_refuses_to_overwrite_and_resume_refuses_another_architecture", "test_tiles_cover_the_image_and_blend_to_exactly_one",
    "test_vgg_loads_torchvision_format_from_the_hub_cache", "test_shipped_styles_look_like_their_own_painting",
    "test_a_blend_weight_of_zero_is_the_same_as_leaving_the_style_out", "test_preserve_colors_histogram_moves_the_palette_back_to_the_photo",
    "test_loader_on_mutated_images_returns_an_image_or_one_line", "test_cli_index_search_json_and_sheet",
    "test_large_levels_are_refined_in_tiles_and_callbacks_see_the_whole_picture", "test_ctrl_c_while_torch_loads_exits_130_without_traceback",
    "test_every_output_format_is_byte_identical_across_saves", "test_runs_that_cannot_fit_in_memory_are_refused_with_the_estimate",
    "test_cli_option_values_parse_in_range_or_are_refused_in_one_line", "test_inputs_are_not_modified",
    "test_a_callback_can_stop_training_and_sees_a_preview", "test_progress_follows_the_cost_of_the_levels_not_the_count_of_steps",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__ in SLOW_MODULES or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True, scope="session")
def _onnx_cache_in_a_temporary_folder(tmp_path_factory):
    """`fast apply` caches exported ONNX graphs; the tests must not fill the user's ~/.cache."""
    import os

    previous = os.environ.get("PAINTERLY_CACHE")
    os.environ["PAINTERLY_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("PAINTERLY_CACHE", None)
    else:
        os.environ["PAINTERLY_CACHE"] = previous
