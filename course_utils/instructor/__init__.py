"""For instructors: the student edition and nbgrader grading. No learner-facing module imports it.

    student   `make student`: the notebooks with their solutions replaced by stubs
    grading   `make grade`: the notebooks as an nbgrader course, submissions autograded
"""
