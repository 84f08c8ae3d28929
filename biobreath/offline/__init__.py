"""Offline analysis of recordings and RR files: the results ``biobreath analyze`` prints
(``analysis``) and its report figure (``report``, matplotlib).

May import: ``biobreath.core``, ``biobreath.files``, matplotlib (only in ``report``) and the
shared data types.
"""
