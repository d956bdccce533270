"""covplan's built-in dataset converters, registered through the ``register_converters``
hook exactly as a hospital's own converter package would be."""

from covplan.hookspecs import hookimpl
from dataset_converters.covid_ct_seg import CovidCtSegConverter
from dataset_converters.msd_lung import MsdLungConverter
from dataset_converters.slices import SlicesConverter


@hookimpl
def register_converters(register):
    """COVID-19-CT-Seg, MSD Task06_Lung and 2D slice data (docs/formats.md)."""
    register(CovidCtSegConverter())
    register(MsdLungConverter())
    register(SlicesConverter())
