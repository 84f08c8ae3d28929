"""Offline analysis of recordings and RR files: the results ``biobreath analyze`` prints
(``analysis``), many files at once (``batch``, by windows or ``segments``), the synchrony of a
group session (``synchrony``), a person's practice over sessions (``progress``), the report
figure (``report``) and the PDF report (``pdf_report``).

May import: ``biobreath.core``, ``biobreath.files``, the shared data types; matplotlib in the
figures and reports; concurrent.futures and dask.distributed inside ``batch``'s functions.
"""
