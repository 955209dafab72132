"""The closed loop and who may do what: workflow, working calendar, deadlines, dispatch rules."""
