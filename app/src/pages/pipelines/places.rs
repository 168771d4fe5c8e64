//! Form fields bound to one place in the definition being edited: the
//! pipeline's own fields, an input parameter, a stage or a task, found by
//! position each time they are read or written. A row that just disappeared
//! reads as the default until `<For>` removes it, and writes to it are dropped.

use leptos::prelude::*;

use crate::pages::widgets::Bound;
use crate::pipeline::{
    ApprovalTask, ConditionTask, InputParameter, KubernetesTask, Notification, PipelineSpec,
    PollTask, RestTask, Stage, Task, TaskRequest, TaskRequestMut,
};

/// `read` and `write` applied to what `find` and `find_mut` locate in `spec`.
fn bound_to<P: 'static, T: Default + Send + Sync + 'static>(
    spec: RwSignal<PipelineSpec>,
    find: impl Fn(&PipelineSpec) -> Option<&P> + Send + Sync + 'static,
    find_mut: impl Fn(&mut PipelineSpec) -> Option<&mut P> + Send + Sync + 'static,
    read: impl Fn(&P) -> T + Send + Sync + 'static,
    write: impl Fn(&mut P, T) + Send + Sync + 'static,
) -> Bound<T> {
    Bound {
        value: Signal::derive(move || spec.with(|spec| find(spec).map(&read)).unwrap_or_default()),
        set: Callback::new(move |value: T| {
            spec.update(|spec| {
                if let Some(place) = find_mut(spec) {
                    write(place, value);
                }
            })
        }),
    }
}

/// A field of the pipeline itself.
pub fn spec_field<T: Default + Send + Sync + 'static>(
    spec: RwSignal<PipelineSpec>,
    read: fn(&PipelineSpec) -> T,
    write: fn(&mut PipelineSpec, T),
) -> Bound<T> {
    bound_to(spec, |spec| Some(spec), |spec| Some(spec), read, write)
}

/// A field of the input parameter at `index`.
pub fn input_field<T: Default + Send + Sync + 'static>(
    spec: RwSignal<PipelineSpec>,
    index: usize,
    read: fn(&InputParameter) -> T,
    write: fn(&mut InputParameter, T),
) -> Bound<T> {
    bound_to(
        spec,
        move |spec| spec.inputs.get(index),
        move |spec| spec.inputs.get_mut(index),
        read,
        write,
    )
}

/// A field of the notification at `index`.
pub fn notification_field<T: Default + Send + Sync + 'static>(
    spec: RwSignal<PipelineSpec>,
    index: usize,
    read: impl Fn(&Notification) -> T + Send + Sync + 'static,
    write: impl Fn(&mut Notification, T) + Send + Sync + 'static,
) -> Bound<T> {
    bound_to(
        spec,
        move |spec| spec.notifications.get(index),
        move |spec| spec.notifications.get_mut(index),
        read,
        write,
    )
}

/// A field of the stage at `index`.
pub fn stage_field<T: Default + Send + Sync + 'static>(
    spec: RwSignal<PipelineSpec>,
    index: usize,
    read: fn(&Stage) -> T,
    write: fn(&mut Stage, T),
) -> Bound<T> {
    bound_to(
        spec,
        move |spec| spec.stages.get(index),
        move |spec| spec.stages.get_mut(index),
        read,
        write,
    )
}

/// Where a task stands: task `task` of stage `stage`.
#[derive(Clone, Copy)]
pub struct TaskAt {
    pub spec: RwSignal<PipelineSpec>,
    pub stage: usize,
    pub task: usize,
}

impl TaskAt {
    pub fn find(self, spec: &PipelineSpec) -> Option<&Task> {
        spec.stages
            .get(self.stage)
            .and_then(|stage| stage.tasks.get(self.task))
    }

    pub fn find_mut(self, spec: &mut PipelineSpec) -> Option<&mut Task> {
        spec.stages
            .get_mut(self.stage)
            .and_then(|stage| stage.tasks.get_mut(self.task))
    }

    /// Where errors about the task are reported: `stages[0].tasks[1]`.
    pub fn path(self) -> String {
        format!("stages[{}].tasks[{}]", self.stage, self.task)
    }

    /// A field every task has.
    pub fn field<T: Default + Send + Sync + 'static>(
        self,
        read: impl Fn(&Task) -> T + Send + Sync + 'static,
        write: impl Fn(&mut Task, T) + Send + Sync + 'static,
    ) -> Bound<T> {
        bound_to(
            self.spec,
            move |spec| self.find(spec),
            move |spec| self.find_mut(spec),
            read,
            write,
        )
    }

    /// A field of the part of the task its type has (`Task::kubernetes` and
    /// the like find it); the default while the task is of another type.
    fn part<P: 'static, T: Default + Send + Sync + 'static>(
        self,
        part: fn(&Task) -> Option<&P>,
        part_mut: fn(&mut Task) -> Option<&mut P>,
        read: fn(&P) -> T,
        write: fn(&mut P, T),
    ) -> Bound<T> {
        bound_to(
            self.spec,
            move |spec| self.find(spec).and_then(part),
            move |spec| self.find_mut(spec).and_then(part_mut),
            read,
            write,
        )
    }

    pub fn kubernetes<T: Default + Send + Sync + 'static>(
        self,
        read: fn(&KubernetesTask) -> T,
        write: fn(&mut KubernetesTask, T),
    ) -> Bound<T> {
        self.part(Task::kubernetes, Task::kubernetes_mut, read, write)
    }

    pub fn rest<T: Default + Send + Sync + 'static>(
        self,
        read: fn(&RestTask) -> T,
        write: fn(&mut RestTask, T),
    ) -> Bound<T> {
        self.part(Task::rest, Task::rest_mut, read, write)
    }

    pub fn poll<T: Default + Send + Sync + 'static>(
        self,
        read: fn(&PollTask) -> T,
        write: fn(&mut PollTask, T),
    ) -> Bound<T> {
        self.part(Task::poll, Task::poll_mut, read, write)
    }

    pub fn condition<T: Default + Send + Sync + 'static>(
        self,
        read: fn(&ConditionTask) -> T,
        write: fn(&mut ConditionTask, T),
    ) -> Bound<T> {
        self.part(Task::condition, Task::condition_mut, read, write)
    }

    pub fn approval<T: Default + Send + Sync + 'static>(
        self,
        read: fn(&ApprovalTask) -> T,
        write: fn(&mut ApprovalTask, T),
    ) -> Bound<T> {
        self.part(Task::approval, Task::approval_mut, read, write)
    }

    /// A field of the request of a REST or Poll task.
    pub fn request<T: Default + Send + Sync + 'static>(
        self,
        read: fn(TaskRequest<'_>) -> T,
        write: fn(TaskRequestMut<'_>, T),
    ) -> Bound<T> {
        self.field(
            move |task| task.request().map(read).unwrap_or_default(),
            move |task, value| {
                if let Some(request) = task.request_mut() {
                    write(request, value);
                }
            },
        )
    }
}

/// Swaps two items of a list; an index past its end (a row being removed)
/// changes nothing.
pub fn swap_items<T>(items: &mut [T], one: usize, other: usize) {
    if one < items.len() && other < items.len() {
        items.swap(one, other);
    }
}

/// Removes an item of a list, if it is still there.
pub fn remove_item<T>(items: &mut Vec<T>, index: usize) {
    if index < items.len() {
        items.remove(index);
    }
}

/// An empty text as no value, for the optional fields.
pub fn optional_text(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// A number field's text as a number; what does not read as one (being
/// typed, or erased) leaves `place` as it is.
pub fn set_number<N: std::str::FromStr>(place: &mut N, text: &str) {
    if let Ok(number) = text.trim().parse() {
        *place = number;
    }
}

/// An optional number field's text: empty is none; what does not read as a
/// number leaves `place` as it is.
pub fn set_optional_number<N: std::str::FromStr>(place: &mut Option<N>, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        *place = None;
    } else if let Ok(number) = text.parse() {
        *place = Some(number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_being_typed_keep_the_last_number() {
        let mut seconds = 300_u64;
        set_number(&mut seconds, " 60 ");
        assert_eq!(seconds, 60);
        for typing in ["", "6x", "-1"] {
            set_number(&mut seconds, typing);
            assert_eq!(seconds, 60, "{typing:?}");
        }

        let mut attempts = Some(3_u32);
        set_optional_number(&mut attempts, "x");
        assert_eq!(attempts, Some(3));
        set_optional_number(&mut attempts, " 5");
        assert_eq!(attempts, Some(5));
        set_optional_number(&mut attempts, "  ");
        assert_eq!(attempts, None);
    }

    #[test]
    fn rows_that_are_gone_are_left_alone() {
        let mut rows = vec!['a', 'b', 'c'];
        swap_items(&mut rows, 0, 1);
        assert_eq!(rows, ['b', 'a', 'c']);
        swap_items(&mut rows, 2, 3);
        swap_items(&mut rows, 0, usize::MAX);
        assert_eq!(rows, ['b', 'a', 'c']);
        remove_item(&mut rows, 1);
        assert_eq!(rows, ['b', 'c']);
        remove_item(&mut rows, 2);
        assert_eq!(rows, ['b', 'c']);
        assert_eq!(optional_text(String::new()), None);
        assert_eq!(optional_text("x".into()), Some("x".to_string()));
    }
}
