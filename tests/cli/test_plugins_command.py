import json

from click.testing import CliRunner

from covplan import __version__
from covplan.cli import cli
from tests.fake_plugins import FakeNet, Registers
from tests.installed_dist import run_covplan, write_distribution

BROKEN_MODULE = "raise ImportError('needs the missing package covplan_gpu_kernels')\n"
GOOD_MODULE = '''
from torch import nn
import covplan

class OnPathNet(covplan.ArchitecturePlugin):
    """A network from a distribution that is only on the path."""
    name = "on_path_net"
    dims = (3,)

    def build_network(self, plan, num_input_channels, num_classes, deep_supervision=False):
        return nn.Conv3d(num_input_channels, num_classes, 1)

@covplan.hookimpl
def register_architectures(register):
    register(OnPathNet())
'''


def test_version_and_help():
    runner = CliRunner()
    assert runner.invoke(cli, ["--version"]).output == f"covplan, version {__version__}\n"
    result = runner.invoke(cli, ["-h"])
    assert result.exit_code == 0
    assert "plugins" in result.output


def test_json_listing_includes_builtins_and_in_process_plugins(register_plugin):
    register_plugin(Registers(FakeNet()), "fake")
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    by_name = {row["name"]: row for row in listing["plugins"]}
    assert by_name["plain_unet"] == {
        "name": "plain_unet", "kind": "architecture", "dims": [2, 3], "default_loss": "dice_ce", "onnx": "yes",
        "slice_classifier": False, "description": "nnU-Net's default U-Net (PlainConvUNet from dynamic-network-architectures).",
        "distribution": "covplan", "version": __version__,
    }
    assert by_name["dice_ce"]["kind"] == "loss"
    assert by_name["fake_net"]["dims"] == [2]
    assert by_name["coarse_refine"]["slice_classifier"] is True
    assert by_name["method-a"]["kind"] == "preset" and by_name["method-a"]["distribution"] == "covplan"


def test_text_listing_shows_kind_name_and_provider():
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0
    assert f"architecture plain_unet            covplan {__version__} 2D/3D ONNX" in result.output.splitlines()


def test_an_architecture_that_cannot_export_to_onnx_is_listed_with_its_reason(register_plugin):
    class NoOnnx(FakeNet):
        """A network ONNX cannot hold."""

        name = "no_onnx_net"
        onnx_unsupported = "it calls a custom CUDA kernel"

    register_plugin(Registers(NoOnnx()), "no-onnx")
    result = CliRunner().invoke(cli, ["plugins"])
    line = next(line for line in result.output.splitlines() if " no_onnx_net " in line)
    assert line.endswith("2D no ONNX: it calls a custom CUDA kernel")


def test_duplicate_names_are_a_one_line_error(register_plugin):
    register_plugin(Registers(FakeNet()), "one")
    register_plugin(Registers(FakeNet()), "two")
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: architecture 'fake_net' is registered twice")
    assert "Traceback" not in result.output


def test_subprocess_finds_a_distribution_on_the_path_and_isolates_a_broken_one(tmp_path):
    site = tmp_path / "site"
    write_distribution(site, "covplan-on-path", "1.2.0", "covplan_on_path", GOOD_MODULE, "on_path")
    write_distribution(site, "covplan-broken", "0.3.0", "covplan_broken", BROKEN_MODULE, "broken")
    result = run_covplan("plugins", "--json", extra_path=site)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    by_name = {row["name"]: row for row in listing["plugins"]}
    assert by_name["on_path_net"]["distribution"] == "covplan-on-path"
    assert by_name["on_path_net"]["version"] == "1.2.0"
    assert "plain_unet" in by_name
    assert listing["broken"] == [{
        "plugin": "broken", "distribution": "covplan-broken", "version": "0.3.0",
        "error": "ImportError: needs the missing package covplan_gpu_kernels",
    }]
    assert "covplan plugin 'broken' from covplan-broken 0.3.0 failed to load" in result.stderr


def test_environment_variable_restricts_external_plugins(tmp_path):
    site = write_distribution(tmp_path / "site", "covplan-on-path", "1.2.0", "covplan_on_path", GOOD_MODULE,
                              "on_path")
    result = run_covplan("plugins", "--json", extra_path=site, COVPLAN_LOAD_PLUGINS="")
    names = {row["name"] for row in json.loads(result.stdout)["plugins"]}
    assert "on_path_net" not in names and "plain_unet" in names


def test_verbose_prints_parameter_counts_for_the_reference_plans(register_plugin):
    from covplan.architectures.example_plans import reference_plan
    from covplan.architectures.plain_unet import PlainUNet

    class BuildsBadly(FakeNet):
        """A network that cannot be built."""

        name = "builds_badly"

        def build_network(self, plan, num_input_channels, num_classes, deep_supervision=False):
            raise RuntimeError("no such layer")

    register_plugin(Registers(BuildsBadly()), "badly")
    result = CliRunner().invoke(cli, ["plugins", "--verbose"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    counts = {dims: sum(p.numel() for p in PlainUNet().build_network(reference_plan(dims), 1, 3).parameters())
              for dims in (2, 3)}
    plain = lines.index(f"architecture plain_unet            covplan {__version__} 2D/3D ONNX")
    assert lines[plain + 2] == f"{'':<13}2D: {counts[2]:,} parameters (patch 128x128, 6 stages, features 32-512)"
    assert lines[plain + 3] == f"{'':<13}3D: {counts[3]:,} parameters (patch 64x64x64, 5 stages, features 32-320)"
    assert f"{'':<13}2D: not built: RuntimeError: no such layer (patch 128x128, 6 stages, features 32-512)" in lines


def test_verbose_json_gives_each_architecture_its_network_sizes():
    result = CliRunner().invoke(cli, ["plugins", "--json", "--verbose"])
    by_name = {row["name"]: row for row in json.loads(result.output)["plugins"]}
    sizes = by_name["resenc_unet"]["network_sizes"]
    assert [size["dims"] for size in sizes] == [2, 3]
    assert all(size["parameters"] > 1_000_000 for size in sizes)
    assert "network_sizes" not in by_name["dice_ce"]
