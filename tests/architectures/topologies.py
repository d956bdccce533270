"""Planner-like topologies the shape tests build every architecture for: isotropic and
anisotropic pooling, odd sizes along axes that are pooled less often, odd bottlenecks."""

from covplan.architectures.example_plans import unet_plan

PLANS = {
    "3d_isotropic": unet_plan([16, 16, 16], [[1, 1, 1], [2, 2, 2], [2, 2, 2]], base_num_features=4),
    # In-plane pooling first, as nnU-Net plans for thick slices; odd bottleneck depth.
    "3d_anisotropic": unet_plan([16, 24, 6], [[1, 1, 1], [2, 2, 1], [2, 2, 2]], base_num_features=4,
                                kernel_sizes=[[3, 3, 1], [3, 3, 3], [3, 3, 3]]),
    # An odd axis that is never pooled.
    "3d_odd_unpooled_axis": unet_plan([5, 16, 12], [[1, 1, 1], [1, 2, 2], [1, 2, 2]], base_num_features=4,
                                      kernel_sizes=[[1, 3, 3], [1, 3, 3], [3, 3, 3]]),
    "2d_odd_bottleneck": unet_plan([36, 20], [[1, 1], [2, 2], [2, 2]], base_num_features=4),
    "2d_anisotropic": unet_plan([40, 24], [[1, 1], [2, 2], [2, 2], [2, 1]], base_num_features=4),
}
