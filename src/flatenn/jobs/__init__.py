"""One function per workflow rule, called by ``flatenn <command>`` (cli.py holds the command
table only): ``networks`` load data or a network (torch), ``tables`` and ``figures`` read result
files, ``studies`` read whole studies. Library modules are imported inside each job, so a table
job never imports torch."""
