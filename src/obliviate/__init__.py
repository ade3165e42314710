"""obliviate: remove chosen training data from a trained model, and measure the result against the oracle.

Run `obliviate --help` for the command line; the public Python API is re-exported here as it lands.
"""
__version__ = "0.1.0"
